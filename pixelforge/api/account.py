"""GET /api/v1/account."""
from flask import g

from pixelforge.api import bp, caller_row
from pixelforge.api.responses import account_body
from pixelforge.plans import get_plan


@bp.get("/account")
def show_account():
    user = caller_row()  # the balance is read now: a cached read's caller carries no balance
    g.credits_remaining = user.credits
    return account_body(user, get_plan(user.plan))
