"""How the dashboard words things: parameters as a person reads them, a ledger with its running balance, and what
a job's outcome means."""
from __future__ import annotations

from dataclasses import dataclass

from pixelforge.models import CreditEntry, Job
from pixelforge.operations import Operation

EMPTY_MEANS = {"seed": "random", "model": "automatic (the best installed)"}
ERROR_EXPLANATIONS = {
    "no_face_found": "No face was found in this picture, so there was nothing to restore. The job was refunded; "
                     "try a photo where a face is clearly visible.",
    "cancelled": "You cancelled this job; it was refunded.",
    "timeout": "The job ran past its time limit and was refunded. A smaller picture runs faster.",
    "worker_lost": "The worker running this job stopped; the job was refunded. Please run it again.",
    "storage_full": "The server had no room to store the result; the job was refunded. Please try again later.",
}


@dataclass(frozen=True)
class LedgerLine:
    entry: CreditEntry
    balance_after: int


def readable_params(params: dict | None, operation: Operation | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs: "Scale: 4x", "Seed: random", "Alpha matting: no"; labels as the operation's spec
    words them (the playground's)."""
    labels = {spec.name: spec.label for spec in operation.params} if operation is not None else {}
    rows = []
    for name, value in (params or {}).items():
        if value is None or value == "":
            shown = EMPTY_MEANS.get(name, "—")
        elif isinstance(value, bool):
            shown = "yes" if value else "no"
        elif name == "scale":
            shown = f"{value}x"
        else:
            shown = str(value)
        rows.append((labels.get(name) or name.replace("_", " ").capitalize(), shown))
    return rows


def running_balance(entries: list[CreditEntry], balance_now: int) -> list[LedgerLine]:
    """Newest-first ledger entries with the balance after each (the ledger sums to the balance)."""
    lines, balance = [], balance_now
    for entry in entries:
        lines.append(LedgerLine(entry, balance))
        balance -= entry.delta
    return lines


def job_facts(job: Job) -> list[tuple[str, str]]:
    """What the job found or chose, from its info: faces, output size, seed, steps."""
    info = job.info or {}
    facts = []
    if info.get("width") and info.get("height"):
        facts.append(("Output size", f"{info['width']}×{info['height']} px"))
    if "faces_detected" in info:
        count = info["faces_detected"]
        facts.append(("Faces found", str(count) if count else "none"))
    if "faces_restored" in info:
        facts.append(("Faces restored", str(info["faces_restored"])))
    if "seed" in info:
        facts.append(("Seed", str(info["seed"])))
    if "effective_steps" in info:
        facts.append(("Steps run", str(info["effective_steps"])))
    return facts


def explanation(job: Job) -> str | None:
    """A sentence for a person about why a job ended without a result, where we know one."""
    return ERROR_EXPLANATIONS.get(job.error_code or "")
