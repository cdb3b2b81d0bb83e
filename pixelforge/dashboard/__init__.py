"""The browser dashboard: sign up/in/out, API keys, credits and job history, rendered on the server."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, render_template
from flask_wtf.csrf import CSRFError

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")

# Everything a dashboard page needs comes from us: no CDN, no inline script, no framing by other sites.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


@bp.after_request
def _harden(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")  # pages show balances and, once, a key
    return response


@bp.errorhandler(404)
def _not_found(exc):
    return render_template("error.html", title="Not found",
                           message="There is nothing here, or it belongs to someone else."), 404


@bp.errorhandler(CSRFError)
def _csrf_failed(exc):
    return render_template("error.html", title="Form expired",
                           message="The form was missing its security token or it expired. "
                                   "Go back, reload the page and try again."), 400


@bp.errorhandler(429)
def _too_many(exc):
    return render_template("error.html", title="Too many attempts",
                           message="Too many attempts from your address. Wait a minute and try again."), 429


@bp.app_template_filter("when")
def format_when(moment: datetime | None) -> str:
    """Stored times are naive UTC; show them as such, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


@bp.app_template_filter("seconds")
def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def init_app(app: Flask) -> None:
    from pixelforge.dashboard import auth, jobs_views, views, webhook_views  # noqa: F401  (routes register on bp)

    app.register_blueprint(bp)
