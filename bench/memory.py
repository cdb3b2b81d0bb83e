"""This process's memory, from /proc/self/status (Linux): current and peak resident set, and a peak reset."""
from __future__ import annotations


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """Peak resident set (VmHWM) since the process started or since the last reset_peak()."""
    return _status_mb("VmHWM")


def reset_peak() -> None:
    """Make the peak equal to the current RSS (Linux ≥ 4.0: writing 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
