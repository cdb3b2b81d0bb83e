"""GET /api/v1/account."""
from flask_login import current_user

from pixelforge.api import bp
from pixelforge.api.responses import account_body
from pixelforge.plans import get_plan


@bp.get("/account")
def show_account():
    return account_body(current_user, get_plan(current_user.plan))
