"""One results table for every section: rows of (section, case, value, unit, detail), printed as Markdown."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    section: str
    case: str
    value: float | str | None
    unit: str = ""
    detail: str = ""


def fmt(value: float | str | None) -> str:
    """Numbers with 3 significant figures (no exponent for ordinary sizes); strings as they are."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def goal(met: bool) -> str:
    return "goal met" if met else "goal NOT met"


def render(rows: list[Row]) -> str:
    """A Markdown table, columns padded so it also reads well in a terminal."""
    header = ("section", "case", "value", "unit", "detail")
    cells = [header] + [(r.section, r.case, fmt(r.value), r.unit, r.detail) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row) -> str:
        return "| " + " | ".join(c.rjust(w) if i == 2 else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i == 2 else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])
