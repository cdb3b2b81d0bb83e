"""The children of `pixelforge serve` die with it, and the next start ends any that did not.

An OOM kill or a service manager's SIGKILL gives `serve` no chance to stop its web server, workers and Redis.
Linux's parent-death signal (prctl PR_SET_PDEATHSIG) ends each child when its parent dies; for whatever survives
anyway, `serve` keeps a list of its children in the instance folder and the next start ends the ones still running.
A process is named there by boot, pid *and* start time, so a pid the system has since given to another program
is never signalled (the command line is kept for messages only: redis-server and gunicorn rewrite theirs).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
RECORD_FILE = "serve-processes.json"


class ServeAlreadyRunning(RuntimeError):
    """Another `pixelforge serve` is alive on this instance folder."""


def _prctl():
    """libc's prctl, resolved before any fork (a child of a threaded parent should not dlopen); None off Linux."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def set_parent_death_signal(signum: int, parent_pid: int, prctl=None) -> None:
    """Have the kernel send signum to this process when its parent dies; at once if it already has."""
    prctl = prctl or _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os.kill(os.getpid(), signum)


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A subprocess preexec_fn: the child gets signum when the process (thread) that started it dies."""
    prctl, parent = _prctl(), os.getpid()

    def arm() -> None:
        set_parent_death_signal(signum, parent, prctl)

    return arm


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as /proc shows it: a pid is only the same process while its start time and command line match."""

    pid: int
    started: int  # clock ticks after boot, /proc/<pid>/stat field 22
    boot: str  # /proc/sys/kernel/random/boot_id: the record outlives a reboot, where pids start over
    cmdline: str = field(default="", compare=False)

    @classmethod
    def of(cls, pid: int) -> "ProcessIdentity | None":
        stat = _stat_fields(pid)
        if stat is None or stat[0] == "Z":  # gone, or a zombie waiting for its parent
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        return cls(pid=pid, started=int(stat[19]), boot=_boot_id(), cmdline=cmdline.strip())

    def is_running(self) -> bool:
        return ProcessIdentity.of(self.pid) == self


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; the command name before it may hold spaces and parentheses."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, their children, …), from one scan of /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat is not None:
                children.setdefault(int(stat[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def end_processes(processes: list[ProcessIdentity], grace: float = 10.0) -> None:
    """SIGTERM each process that is still itself, then SIGKILL those still running after grace seconds."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        running = [p for p in processes if p.is_running()]
        for process in running:
            try:
                os.kill(process.pid, signum)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while any(p.is_running() for p in running) and time.monotonic() < deadline:
            time.sleep(0.1)


class ChildRegistry:
    """`<instance>/serve-processes.json`: the running supervisor and its children, for the next start to check."""

    def __init__(self, instance: str | os.PathLike):
        self.path = Path(instance) / RECORD_FILE
        self.written: str | None = None

    def record(self, child_pids: list[int]) -> None:
        """Write this process as the supervisor of child_pids and everything below them."""
        pids = [pid for child in child_pids for pid in (child, *descendants(child))]
        self.write(ProcessIdentity.of(os.getpid()), [p for p in map(ProcessIdentity.of, pids) if p])

    def write(self, supervisor: ProcessIdentity, children: list[ProcessIdentity]) -> None:
        text = json.dumps({"supervisor": asdict(supervisor), "children": [asdict(child) for child in children]},
                          indent=1)
        if text == self.written and self.path.exists():  # the supervisor re-records every upkeep round
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text)
        temporary.replace(self.path)
        self.written = text

    def end_stale(self, grace: float = 10.0) -> list[ProcessIdentity]:
        """End the children a previous `serve` left running; refuse while that `serve` is itself alive."""
        recorded = self.read()
        if recorded is None:
            return []
        supervisor, children = recorded
        if supervisor.pid != os.getpid() and supervisor.is_running():
            raise ServeAlreadyRunning(f"`pixelforge serve` (pid {supervisor.pid}) is already running on "
                                      f"{self.path.parent}")
        stale = [child for child in children if child.is_running()]
        below = [ProcessIdentity.of(pid) for child in stale for pid in descendants(child.pid)]
        stale += [process for process in below if process and process not in stale]
        if stale:
            log.warning("ending %d process(es) a previous `pixelforge serve` left running: %s", len(stale),
                        ", ".join(f"{p.pid} ({p.cmdline[:60]})" for p in stale))
            end_processes(stale, grace)
        self.clear()
        return stale

    def read(self) -> tuple[ProcessIdentity, list[ProcessIdentity]] | None:
        """The recorded supervisor and children; None when there is no (readable) record."""
        try:
            body = json.loads(self.path.read_text())
            return ProcessIdentity(**body["supervisor"]), [ProcessIdentity(**row) for row in body["children"]]
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
