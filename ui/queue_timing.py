"""How often Gradio's queue wakes: as often as Gradio wants while a click waits or a run is live, seldom when idle.

Gradio's queue looks for queued clicks every 1 ms and for progress to send every 10 ms on Linux (its Windows values
are 50 and 100 ms), whether anybody uses the playground or not: an idle web process spent 4.7 % of a core on it,
0.6-0.7 % with this (bench/web_memory.py). Gradio has no setting for either; its loops read the two attributes on
every turn, so the playground's queue answers them by its state: Gradio's own values while there is work, longer
sleeps while idle. A run's progress and last updates therefore travel exactly as before; only the first click after
a quiet spell can wait up to QUEUE_IDLE_POLL_SECONDS longer to start, and its first progress update up to
PROGRESS_IDLE_POLL_SECONDS.
"""
from __future__ import annotations

QUEUE_IDLE_POLL_SECONDS = 0.05  # Gradio's own Windows values; at 20 ms an idle web still spent 1.1-1.6 % of a core
PROGRESS_IDLE_POLL_SECONDS = 0.1


def quieten_when_idle(blocks) -> None:
    """Make blocks' queue (made by ``blocks.queue()``, not yet started) sleep longer while nothing is queued or
    running; Gradio's own values stay in force whenever there is work."""
    queue = blocks._queue
    queue.__class__ = type(f"QuietWhenIdle{type(queue).__name__}", (QuietWhenIdle, type(queue)), {})


class QuietWhenIdle:
    """Mixed into Gradio's Queue: its two sleep attributes follow the queue's state. Properties win over the plain
    attributes Gradio's __init__ set on the instance, which are read back as the values for when there is work."""

    @property
    def sleep_when_free(self) -> float:
        busy = self.__dict__["sleep_when_free"]
        return busy if len(self) else max(busy, QUEUE_IDLE_POLL_SECONDS)

    @property
    def progress_update_sleep_when_free(self) -> float:
        busy = self.__dict__["progress_update_sleep_when_free"]
        running = any(job is not None for job in self.active_jobs)
        return busy if running else max(busy, PROGRESS_IDLE_POLL_SECONDS)
