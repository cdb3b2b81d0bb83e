"""An idle web process stays idle: with the playground mounted and nobody using it, the event loop wakes tens of
times a second, not Gradio's default of every millisecond (about 4 % of a core, measured in bench.web_memory); with
work queued or running, Gradio's own timing holds."""
from __future__ import annotations

import time

import pytest

IDLE_SECONDS = 1.5
MOST_WAKEUPS_PER_SECOND = 100  # Gradio's own values wake the loop 1,000 + 100 times a second; idle, ours 20 + 10


@pytest.fixture
def root(app):
    from pixelforge.asgi import create_asgi_app

    app.config["PLAYGROUND_ENABLED"] = True
    return create_asgi_app(app)


def _playground_queue(root):
    from starlette.routing import Mount

    from ui import PATH

    mount = next(route for route in root.routes if isinstance(route, Mount) and route.path == PATH)
    return mount.app.app.blocks._queue  # the guard wraps Gradio's app


def test_the_event_loop_of_an_idle_web_process_mostly_sleeps(root):
    import asyncio

    from starlette.testclient import TestClient

    with TestClient(root, base_url="http://pixelforge.test") as client:  # runs startup: Gradio's queue starts
        loop = client.portal.call(asyncio.get_running_loop)
        selector, wakeups = loop._selector, []
        original = selector.select

        def counting_select(timeout=None):
            wakeups.append(timeout)
            return original(timeout)

        selector.select = counting_select
        try:
            time.sleep(IDLE_SECONDS)
        finally:
            selector.select = original
    sleeps = [timeout for timeout in wakeups if timeout != 0]  # a 0 is the loop checking for I/O between callbacks
    per_second = len(sleeps) / IDLE_SECONDS
    assert per_second < MOST_WAKEUPS_PER_SECOND, f"{per_second:.0f} sleeps/s; shortest {sorted(sleeps)[:5]}"


def test_a_queued_click_or_a_live_run_gets_gradios_own_timing(root):
    from ui.queue_timing import PROGRESS_IDLE_POLL_SECONDS, QUEUE_IDLE_POLL_SECONDS

    queue = _playground_queue(root)
    gradio_queue, gradio_progress = queue.__dict__["sleep_when_free"], queue.__dict__["progress_update_sleep_when_free"]
    assert gradio_queue < QUEUE_IDLE_POLL_SECONDS and gradio_progress < PROGRESS_IDLE_POLL_SECONDS
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (
        QUEUE_IDLE_POLL_SECONDS, PROGRESS_IDLE_POLL_SECONDS)

    waiting = next(iter(queue.event_queue_per_concurrency_id.values()), None)
    if waiting is None:  # Gradio makes a function's queue on its first click
        queue.create_event_queue_for_fn(queue.blocks.fns[next(iter(queue.blocks.fns))])
        waiting = next(iter(queue.event_queue_per_concurrency_id.values()))
    waiting.queue.append(object())
    try:
        assert queue.sleep_when_free == gradio_queue
    finally:
        waiting.queue.clear()
    assert queue.sleep_when_free == QUEUE_IDLE_POLL_SECONDS

    queue.active_jobs = [None, [object()]]
    try:
        assert queue.progress_update_sleep_when_free == gradio_progress
    finally:
        queue.active_jobs = [None, None]
    assert queue.progress_update_sleep_when_free == PROGRESS_IDLE_POLL_SECONDS
