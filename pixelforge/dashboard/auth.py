"""Sign up, sign in, sign out. Sessions are Flask's signed cookie; flask-login keeps the user id in it."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from pixelforge.accounts import AccountError, authenticate, create_user
from pixelforge.dashboard import bp
from pixelforge.dashboard.forms import LoginForm, LogoutForm, SignupForm
from pixelforge.extensions import limiter


def auth_rate_limit() -> str:
    """Counted per client address (anonymous callers); only POSTs, so looking at the form is free."""
    return current_app.config["AUTH_RATE_LIMIT"]


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """target when it is a path on this site, else default: never an open redirect."""
    if not target:
        return default
    target = target.strip()
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(ch) < 32 for ch in target)):
        return default
    return target


def user_or_address() -> str:
    """Rate-limit by signed-in user where there is one, else by client address."""
    if current_user and current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(auth_rate_limit, methods=["POST"], key_func=user_or_address)
def signup():
    """Create an account on the sign-up plan with its opening credits, then sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    form = SignupForm()
    if form.validate_on_submit():
        config = current_app.config
        try:
            user = create_user(form.email.data, plan=config["SIGNUP_PLAN"],
                               credits=int(config["SIGNUP_CREDITS"]), password=form.password.data)
        except AccountError as exc:
            form.email.errors.append(_public_account_error(exc))
        else:
            login_user(user)
            flash(f"Welcome to PixelForge. You start on the {user.plan} plan with {user.credits} credits.",
                  "success")
            return redirect(url_for("dashboard.overview"))
    return render_template("signup.html", form=form, title="Create an account")


def _public_account_error(exc: AccountError) -> str:
    message = str(exc)
    if "already exists" in message:
        return "An account with this email already exists. Sign in instead?"
    return message[0].upper() + message[1:] + "."


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(auth_rate_limit, methods=["POST"], key_func=user_or_address)
def login():
    """Sign in with email and password; `next` may send the user back to a page of this site."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    destination = safe_next(form.next.data)
    if current_user.is_authenticated and request.method == "GET":
        return redirect(destination)
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(destination)
        form.password.errors.append("Wrong email or password.")
    return render_template("login.html", form=form, title="Sign in")


@bp.route("/logout", methods=["GET", "POST"])
@login_required
def logout():
    """GET asks, POST (with its CSRF token) signs out: a link on another site cannot sign anyone out."""
    form = LogoutForm()
    if form.validate_on_submit():
        logout_user()
        flash("You have signed out.", "info")
        return redirect(url_for("dashboard.login"))
    return render_template("logout.html", form=form, title="Sign out")
