"""A job's lifecycle: every transition (transitions.py) guarded by the status it leaves, written as a `job_events`
row in the transaction that made it (with the webhook deliveries it triggers: outbox.py), and announced on Redis
after the commit (broadcast.py). This is the one place webhooks, metrics and the event stream hook into.

The SQL row stays the truth about a job. A lost Redis message costs a waiter time, never correctness: waiters
also check the job's final marker every few seconds and read the job from the database when they stop waiting,
and webhook deliveries lost on the way to their queue are sent again by upkeep.
"""
from pixelforge.lifecycle.broadcast import (CHANNEL, FINAL_MARK, FINAL_MARK_SECONDS, Announcement, Transition,
                                            announce, announce_progress, channel, final_mark)
from pixelforge.lifecycle.outbox import PROGRESS_EVENT_STEP, record
from pixelforge.lifecycle.transitions import (JobResult, cancel, claim, expire, fail, finish, keep_alive, progress,
                                              queued, reap)

__all__ = ["CHANNEL", "FINAL_MARK", "FINAL_MARK_SECONDS", "PROGRESS_EVENT_STEP", "Announcement", "JobResult",
           "Transition", "announce", "announce_progress", "cancel", "channel", "claim", "expire", "fail",
           "final_mark", "finish", "keep_alive", "progress", "queued", "reap", "record"]
