"""The /api/v1 blueprint: Bearer keys only, checked in the contract's order before any view runs."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, request
from flask_login import current_user

from pixelforge import ratelimit
from pixelforge.api.errors import ApiError, register_error_handlers
from pixelforge.bearer import challenge
from pixelforge.extensions import db
from pixelforge.internal_requests import is_internal
from pixelforge.key_lookup import key_lookup
from pixelforge.models import User
from pixelforge.plans import get_plan

URL_PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=URL_PREFIX)


@bp.before_request
def authenticate_and_limit():
    """401 → 403 → 413 → 429, in that order, before the body is read."""
    lookup = key_lookup(request)
    if not current_user.is_authenticated:
        if lookup.failure in (None, "missing"):
            raise ApiError(401, "authentication_required",
                           "send your API key as 'Authorization: Bearer pfk_…'; create one in the dashboard",
                           headers={"WWW-Authenticate": challenge()})
        raise _invalid_key()
    plan = get_plan(current_user.plan)
    if not plan.api_access:
        raise ApiError(403, "plan_without_api_access",
                       f"the {plan.name} plan has no API access; upgrade to pro or api, or use the playground")
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "upload_too_large", f"the request body is over the {limit:,}-byte upload limit")
    counted = lookup.counted_read  # a read keycache counted while it found the key
    if is_internal(request):  # the live layer finishing a request that was counted when it came in
        return
    if request.method == "POST":
        g.rate_decision = ratelimit.check_submission(current_user.id, plan)
    elif counted is not None:
        g.rate_decision = ratelimit.raise_if_limited(counted)
    else:
        g.rate_decision = ratelimit.check_read(current_user.id, plan)


def _invalid_key() -> ApiError:
    return ApiError(401, "invalid_api_key", "the API key is invalid or has been revoked",
                    headers={"WWW-Authenticate": challenge("invalid_token")})


def caller_row() -> User:
    """The caller's user row, read now. A cached read's caller may have been deleted in SQL behind the cache's
    back (no epoch bump): that key is refused like a revoked one, and every process's cache is emptied."""
    if isinstance(current_user._get_current_object(), User):
        return current_user._get_current_object()  # verified against the database in this request
    user = db.session.get(User, current_user.id)
    if user is None:
        from pixelforge.keycache import bump_epoch

        bump_epoch()
        raise _invalid_key()
    return user


@bp.after_request
def add_rate_headers(response):
    decision = g.get("rate_decision")
    if decision is not None and not decision.degraded:
        response.headers.update(decision.headers())
    response.headers["Cache-Control"] = "no-store"
    _add_credit_headers(response)
    return response


def _add_credit_headers(response) -> None:
    """X-Credits-Charged and X-Credits-Remaining on the answers that can change a balance (submissions, cancels,
    redeliveries) and on the account: the balance is read now, after this request's own charge or refund."""
    remaining = g.get("credits_remaining")
    if remaining is None and request.method == "POST" and isinstance(current_user._get_current_object(), User):
        try:  # expired by the request's commit, so this reloads the row: the balance after this request
            remaining = current_user.credits
        except Exception:  # the answer matters more than its headers (e.g. the database is away: a 5xx already)
            db.session.rollback()
    if remaining is not None:
        response.headers["X-Credits-Charged"] = str(g.get("credits_charged", 0))
        response.headers["X-Credits-Remaining"] = str(remaining)


def init_app(app: Flask) -> None:
    from pixelforge.api import account, jobs, submissions, webhooks  # noqa: F401  (routes register on bp)
    from pixelforge.api.docs import docs
    from pixelforge.extensions import csrf, limiter

    csrf.exempt(bp)  # Bearer keys only, no cookies: nothing for a cross-site form to ride on
    limiter.exempt(bp)  # limits here come from ratelimit, checked after authentication
    app.register_blueprint(bp)
    csrf.exempt(docs)
    limiter.exempt(docs)
    app.register_blueprint(docs)
    register_error_handlers(app, "/api/")
