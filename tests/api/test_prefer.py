"""Reading `Prefer: wait` (RFC 7240) as the live layer does."""
from __future__ import annotations

import pytest

from pixelforge.live.middleware import prefer_wait


@pytest.mark.parametrize("value, seconds", [
    ("wait", 60), ("wait=5", 5), ("wait=600", 60), ("respond-async, wait=10", 10), ("WAIT = 3", 3),
    ('wait="7"', 7), ("return=minimal; wait=2", 2), ("wait=0", None), ("wait=-1", None), ("wait=soon", None),
    ("return=representation", None),
])
def test_prefer_wait_is_read_as_rfc_7240_says(value, seconds):
    assert prefer_wait([(b"prefer", value.encode())]) == seconds
    assert prefer_wait([(b"accept", b"*/*")]) is None
