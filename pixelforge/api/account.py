"""GET /api/v1/account."""
from pixelforge.api import bp, caller_row
from pixelforge.api.responses import account_body
from pixelforge.plans import get_plan


@bp.get("/account")
def show_account():
    user = caller_row()  # the balance is read now: a cached read's caller carries no balance
    return account_body(user, get_plan(user.plan))
