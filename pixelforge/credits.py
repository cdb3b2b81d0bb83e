"""Credits: one conditional UPDATE to reserve, one to refund, and a ledger row beside each (job state changes,
and when a refund is due, are the lifecycle's: pixelforge/lifecycle).

The balance column is what concurrency is decided on (the UPDATE's WHERE clause); the ledger is the
append-only history whose sum always equals that balance.
"""
from __future__ import annotations

from sqlalchemy import func, update

from pixelforge.errors import PixelForgeError
from pixelforge.extensions import db
from pixelforge.models import CreditEntry, User


class InsufficientCredits(PixelForgeError):
    """The balance does not cover the operation's cost (HTTP 402)."""

    status, code, title = 402, "insufficient_credits", "Not enough credits"

    def __init__(self, needed: int, balance: int):
        super().__init__(f"this operation costs {needed} credit(s); your balance is {balance}")
        self.needed = needed
        self.balance = balance

    def person_message(self) -> str:
        return f"This run costs {self.needed} credit{'s' if self.needed != 1 else ''} and your balance is " \
               f"{self.balance}."


def reserve_credits(user_id: int, cost: int, job_id: str) -> None:
    """Take cost credits in the current transaction, or raise InsufficientCredits. The caller commits."""
    result = db.session.execute(
        update(User).where(User.id == user_id, User.credits >= cost).values(credits=User.credits - cost)
    )
    if result.rowcount != 1:
        balance = db.session.scalar(db.select(User.credits).where(User.id == user_id)) or 0
        raise InsufficientCredits(cost, balance)
    db.session.add(CreditEntry(user_id=user_id, job_id=job_id, delta=-cost, reason="charge"))


def refund_job(user_id: int, job_id: str, amount: int, note: str | None = None) -> None:
    """Give a job's credits back in the current transaction: the lifecycle calls this inside the transition that
    ended the job unsuccessfully, whose status change guards against a second refund. The caller commits."""
    db.session.execute(update(User).where(User.id == user_id).values(credits=User.credits + amount))
    db.session.add(CreditEntry(user_id=user_id, job_id=job_id, delta=amount, reason="refund", note=note))


def grant_credits(user: User, amount: int, reason: str = "grant", note: str | None = None) -> None:
    """Add (or with a negative amount, remove) credits outside any job. Commits."""
    db.session.execute(update(User).where(User.id == user.id).values(credits=User.credits + amount))
    db.session.add(CreditEntry(user_id=user.id, delta=amount, reason=reason, note=note))
    db.session.commit()
    db.session.refresh(user)


def ledger_total(user_id: int) -> int:
    """The sum of a user's ledger: equals their balance whenever no transaction is half-done."""
    return db.session.scalar(db.select(func.coalesce(func.sum(CreditEntry.delta), 0)).where(
        CreditEntry.user_id == user_id)) or 0


def ledger(user_id: int, limit: int = 100) -> list[CreditEntry]:
    """The user's newest ledger entries first."""
    return list(db.session.scalars(
        db.select(CreditEntry).where(CreditEntry.user_id == user_id)
        .order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc()).limit(limit)))
