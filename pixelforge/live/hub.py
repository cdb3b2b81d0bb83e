"""One Redis pub/sub connection per web process, pattern-subscribed to every job's channel once (so no subscribe
races a publish), fanning each message out to the waiters of that job on the event loop."""
from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager

from pixelforge.lifecycle import CHANNEL, final_mark
from pixelforge.models import JobStatus

log = logging.getLogger(__name__)

PATTERN = CHANNEL.format(job_id="*")
PREFIX = CHANNEL.format(job_id="")
CHECK_EVERY_SECONDS = 2.0  # a waiter also looks at the job's final mark this often (a message may be lost)
WATCHER_QUEUE = 256


class JobEventHub:
    """Made on first use inside the event loop that uses it."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self.watchers: dict[str, set[asyncio.Queue]] = {}
        self.client = None
        self.listener: asyncio.Task | None = None
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        if self.listener is None:
            from redis.asyncio import Redis

            self.client = Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)
            self.listener = asyncio.get_running_loop().create_task(self._listen())
        try:  # wait for the subscription, but never hang a request on a Redis that is away
            await asyncio.wait_for(self.subscribed.wait(), 2)
        except asyncio.TimeoutError:
            log.warning("job events: no Redis subscription yet; waiters fall back to checking every %s s",
                        CHECK_EVERY_SECONDS)

    async def _listen(self) -> None:
        pubsub = None
        while True:
            try:
                if pubsub is None:
                    pubsub = self.client.pubsub()
                    await pubsub.psubscribe(PATTERN)
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                if message["type"] == "psubscribe":
                    self.subscribed.set()
                elif message["type"] == "pmessage":
                    self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: try again; waiters check the final mark meanwhile
                log.warning("job events: Redis subscription lost (%s); reconnecting", exc)
                self.subscribed.clear()
                if pubsub is not None:
                    await _quietly(pubsub.aclose())
                pubsub = None
                await asyncio.sleep(1.0)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        job_id = channel.decode()[len(PREFIX):]
        queues = self.watchers.get(job_id)
        if not queues:
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        for queue in list(queues):
            if queue.full():  # a stream that stopped reading loses old progress, not the final event
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def watch(self, job_id: str):
        """A queue of this job's events from now on (register before checking the final mark)."""
        await self.start()
        queue: asyncio.Queue = asyncio.Queue(WATCHER_QUEUE)
        self.watchers.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self.watchers.get(job_id, set())
            queues.discard(queue)
            if not queues:
                self.watchers.pop(job_id, None)

    async def final_status(self, job_id: str) -> str | None:
        """The job's final status if the lifecycle has marked it final (None when not, or Redis is away)."""
        try:
            value = await self.client.get(final_mark(job_id))
        except Exception:
            return None
        return value.decode() if value else None

    async def wait_final(self, job_id: str, seconds: float) -> bool:
        """True once the job is final, False after `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        async with self.watch(job_id) as queue:
            if await self.final_status(job_id):
                return True
            while (remaining := deadline - loop.time()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), min(remaining, CHECK_EVERY_SECONDS))
                except asyncio.TimeoutError:
                    if await self.final_status(job_id):
                        return True
                    continue
                if event.get("event") in JobStatus.FINAL:
                    return True
        return False


async def _quietly(awaitable) -> None:
    try:
        await awaitable
    except Exception:
        pass
