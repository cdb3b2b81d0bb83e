"""The plan table: what each plan may do and how fast. Config's PLAN_LIMITS may override a row's fields."""
from __future__ import annotations

from dataclasses import dataclass, replace

from flask import current_app


@dataclass(frozen=True)
class Plan:
    name: str
    rpm: int  # job submissions per minute
    api_access: bool
    max_output_pixels: int | None = None  # None: the global MAX_OUTPUT_PIXELS
    retention_seconds: int | None = None  # None: the global RESULT_RETENTION_SECONDS


PLANS: dict[str, Plan] = {plan.name: plan for plan in (  # one row per config.PLAN_NAMES, in that order
    Plan("free", rpm=5, api_access=False),
    Plan("starter", rpm=20, api_access=False),
    Plan("pro", rpm=60, api_access=True),
    Plan("api", rpm=120, api_access=True),
)}


class UnknownPlan(ValueError):
    """A plan name that is not in the table."""


def get_plan(name: str) -> Plan:
    """The plan called name, with config overrides applied."""
    try:
        plan = PLANS[name]
    except KeyError:
        raise UnknownPlan(f"unknown plan {name!r}; choose one of: {', '.join(PLANS)}") from None
    overrides = current_app.config.get("PLAN_LIMITS", {}).get(name)
    return replace(plan, **overrides) if overrides else plan


def retention_seconds(plan: Plan) -> int:
    """How long this plan's inputs and results are kept."""
    return plan.retention_seconds or current_app.config["RESULT_RETENTION_SECONDS"]


def read_rpm(plan: Plan) -> int:
    """Reads (status, list, download, account) get a separate, larger budget per key."""
    return plan.rpm * current_app.config["READ_RATE_MULTIPLIER"]
