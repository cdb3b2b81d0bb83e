"""Children die with their parent; a later start ends stale ones and never signals a recycled pid."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest

from pixelforge.child_processes import ChildRegistry, ProcessIdentity, ServeAlreadyRunning

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]

PARENT_OF_A_GUARDED_CHILD = """
import signal, subprocess, sys, time
from pixelforge.child_processes import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         preexec_fn=die_with_parent(signal.SIGKILL))
print(child.pid, flush=True)
time.sleep(120)
"""


def wait_until_gone(process: ProcessIdentity, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while process.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not process.is_running()


@pytest.fixture
def sleeper():
    process = subprocess.Popen(SLEEPER)
    yield process
    process.kill()
    process.wait()


def test_a_child_dies_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT_OF_A_GUARDED_CHILD], stdout=subprocess.PIPE, text=True)
    child = ProcessIdentity.of(int(parent.stdout.readline()))
    assert child is not None and child.is_running()
    parent.kill()
    parent.wait()
    assert wait_until_gone(child)


def test_a_stale_child_of_a_dead_supervisor_is_ended(tmp_path, sleeper):
    gone = subprocess.Popen(SLEEPER)
    supervisor = ProcessIdentity.of(gone.pid)
    gone.kill()
    gone.wait()
    ChildRegistry(tmp_path).write(supervisor, [ProcessIdentity.of(sleeper.pid)])
    ended = ChildRegistry(tmp_path).end_stale(grace=5)
    assert [p.pid for p in ended] == [sleeper.pid]
    sleeper.wait(5)
    assert not (tmp_path / "serve-processes.json").exists()


def test_a_recycled_pid_is_never_signalled(tmp_path, sleeper):
    """The pid was recorded, but the process now holding it started at another time: it is someone else's."""
    someone_else = replace(ProcessIdentity.of(sleeper.pid), started=1)
    ChildRegistry(tmp_path).write(replace(someone_else, pid=2 ** 22 + 7), [someone_else])
    assert ChildRegistry(tmp_path).end_stale(grace=1) == []
    assert sleeper.poll() is None


def test_a_second_serve_on_a_live_ones_instance_is_refused(tmp_path, sleeper):
    ChildRegistry(tmp_path).write(ProcessIdentity.of(sleeper.pid), [])
    with pytest.raises(ServeAlreadyRunning):
        ChildRegistry(tmp_path).end_stale()
    assert sleeper.poll() is None and (tmp_path / "serve-processes.json").exists()
