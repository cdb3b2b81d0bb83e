"""GET /api/v1/account."""
from flask_login import current_user

from pixelforge.accounts import get_user
from pixelforge.api import bp
from pixelforge.api.responses import account_body
from pixelforge.plans import get_plan


@bp.get("/account")
def show_account():
    user = get_user(current_user.id)  # the balance is read now: a cached read's caller carries no balance
    return account_body(user, get_plan(user.plan))
