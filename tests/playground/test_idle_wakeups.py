"""An idle web process stays idle: with the playground mounted and nobody using it, the event loop wakes tens of
times a second, not Gradio's default of every millisecond (about 4 % of a core, measured in bench.web_memory)."""
from __future__ import annotations

import time

import pytest

IDLE_SECONDS = 1.5
MOST_WAKEUPS_PER_SECOND = 300  # Gradio's own defaults poll 1,000 + 100 times a second; ours 50 + 100


@pytest.fixture
def root(app):
    from pixelforge.asgi import create_asgi_app

    app.config["PLAYGROUND_ENABLED"] = True
    return create_asgi_app(app)


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
