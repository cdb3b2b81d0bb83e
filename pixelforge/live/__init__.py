"""Live answers without a thread or a database connection per waiting client: `Prefer: wait` on submissions, the
download's wait on an active job, and Server-Sent Events, in the ASGI layer in front of Flask.

Flask still answers each request first (authentication, rate limits, 404s, the error order and shapes are the
API's own); a waiter then awaits the job's lifecycle events from Redis (hub.py) on the event loop, and asks Flask
again, once, for the final JSON or the result.
"""
from pixelforge.live.middleware import LiveJobs

__all__ = ["LiveJobs"]
