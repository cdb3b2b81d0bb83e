"""Dashboard pages: the landing page, overview, API keys and credits (job pages: jobs_views.py)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from pixelforge import credits
from pixelforge.dashboard import bp, new_key
from pixelforge.dashboard.forms import CreateKeyForm, RevokeKeyForm
from pixelforge.dashboard.present import running_balance
from pixelforge.extensions import db
from pixelforge.jobs import list_jobs
from pixelforge.keys import KeyNotFound, create_key, revoke_key
from pixelforge.models import ApiKey
from pixelforge.operations import OPERATIONS
from pixelforge.plans import PLANS, get_plan, read_rpm


@bp.get("/")
def index():
    """What PixelForge is and where its parts are, for anyone."""
    return render_template("landing.html", title="Image AI you can host yourself", operations=OPERATIONS)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every page that names no icon (the playground's among them)."""
    return bp.send_static_file("favicon.svg")


@bp.get("/playground")
def playground():
    """The playground lives at /playground/ (mounted beside Flask); the bare path lands here."""
    return redirect("/playground/", 308)


@bp.get("/dashboard")
@login_required
def overview():
    plan = get_plan(current_user.plan)
    recent, _ = list_jobs(current_user, 5)
    active_keys = db.session.scalar(db.select(db.func.count(ApiKey.id)).filter_by(
        user_id=current_user.id, revoked_at=None))
    return render_template("overview.html", title="Overview", plan=plan, recent=recent, active_keys=active_keys,
                           operations=OPERATIONS)


def _keys_of(user_id: int) -> list[ApiKey]:
    return list(db.session.scalars(db.select(ApiKey).filter_by(user_id=user_id)
                                   .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())))


def _keys_page(form: CreateKeyForm, new=None, status: int = 200):
    plan = get_plan(current_user.plan)
    api_plans = [p for p in PLANS if get_plan(p).api_access]
    response = render_template("keys.html", title="API keys", plan=plan, api_plans=api_plans, form=form,
                               keys=_keys_of(current_user.id), new_key=new, base_url=_base_url())
    return response, status


def _base_url() -> str:
    return request.host_url.rstrip("/")


@bp.get("/dashboard/keys")
@login_required
def keys():
    """The keys; right after a key was made, that key, this once (new_key.py)."""
    return _keys_page(CreateKeyForm(), new=new_key.take())


@bp.post("/dashboard/keys")
@login_required
def create_api_key():
    """Make a key and redirect to the page that shows it once: a reload there makes no second key."""
    form = CreateKeyForm()
    if not get_plan(current_user.plan).api_access:
        return _keys_page(form, status=403)
    if not form.validate_on_submit():
        return _keys_page(form)
    name = (form.name.data or "").strip()
    made = create_key(current_user, name)
    if not new_key.hand_over(made.secret, name):  # no Redis: show it in this response, as before
        current_app.logger.warning("could not hand the new key over through Redis; shown in the POST's response")
        return _keys_page(CreateKeyForm(formdata=None), new={"secret": made.secret, "name": name})
    return redirect(url_for("dashboard.keys"), 303)


def _own_active_key(prefix: str) -> ApiKey:
    key = db.session.scalar(db.select(ApiKey).filter_by(prefix=prefix, user_id=current_user.id))
    if key is None:
        abort(404)
    return key


@bp.get("/dashboard/keys/<prefix>/revoke")
@login_required
def confirm_revoke(prefix: str):
    """Revoking asks first: programs using the key stop working at once."""
    key = _own_active_key(prefix)
    if key.revoked_at is not None:
        return redirect(url_for("dashboard.keys"))
    return render_template("revoke.html", title="Revoke key", key=key, form=RevokeKeyForm())


@bp.post("/dashboard/keys/<prefix>/revoke")
@login_required
def revoke_api_key(prefix: str):
    form = RevokeKeyForm()
    if form.validate_on_submit():
        try:
            revoke_key(prefix, current_user)
        except KeyNotFound:
            abort(404)
        flash(f"Key {prefix}… is revoked: requests with it are refused from now on.", "success")
    return redirect(url_for("dashboard.keys"))


@bp.get("/dashboard/models")
@login_required
def models():
    """What runs each tool now, from what the live workers publish, and how to install what is missing."""
    from pixelforge.dashboard.engines import live_workers, notes_by_variant

    workers = live_workers()
    return render_template("models.html", title="Models", notes=notes_by_variant(workers), workers=workers or [])


@bp.get("/dashboard/credits")
@login_required
def credits_page():
    plan = get_plan(current_user.plan)
    lines = running_balance(credits.ledger(current_user.id, 100), current_user.credits)
    return render_template("credits.html", title="Credits", plan=plan, read_rpm=read_rpm(plan), lines=lines)
