"""Dashboard pages: overview, API keys, credits, job history and one job, and the owner-only job images."""
from __future__ import annotations

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from pixelforge import credits, images, thumbnails
from pixelforge.dashboard import bp
from pixelforge.dashboard.forms import CreateKeyForm, RevokeKeyForm
from pixelforge.extensions import db
from pixelforge.jobs import JobNotFound, get_job, list_jobs
from pixelforge.keys import KeyNotFound, create_key, revoke_key
from pixelforge.models import ApiKey, Job, JobStatus
from pixelforge.operations import OPERATIONS, ValidationFailed
from pixelforge.plans import PLANS, get_plan, read_rpm
from pixelforge.storage import ObjectMissing, StorageError, get_storage

JOBS_PER_PAGE = 20
IMAGE_KINDS = ("input", "mask", "result")


@bp.get("/")
def index():
    return redirect(url_for("dashboard.overview" if current_user.is_authenticated else "dashboard.login"))


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


def _keys_page(form: CreateKeyForm, new_key=None, status: int = 200):
    plan = get_plan(current_user.plan)
    api_plans = [p for p in PLANS if get_plan(p).api_access]
    response = render_template("keys.html", title="API keys", plan=plan, api_plans=api_plans, form=form,
                               keys=_keys_of(current_user.id), new_key=new_key)
    return response, status


@bp.get("/dashboard/keys")
@login_required
def keys():
    return _keys_page(CreateKeyForm())


@bp.post("/dashboard/keys")
@login_required
def create_api_key():
    """Make a key and show it in this response only: it is never stored or shown again."""
    form = CreateKeyForm()
    if not get_plan(current_user.plan).api_access:
        return _keys_page(form, status=403)
    if not form.validate_on_submit():
        return _keys_page(form)
    new_key = create_key(current_user, (form.name.data or "").strip())
    return _keys_page(CreateKeyForm(formdata=None), new_key=new_key)


@bp.post("/dashboard/keys/<prefix>/revoke")
@login_required
def revoke_api_key(prefix: str):
    form = RevokeKeyForm()
    if form.validate_on_submit():
        try:
            revoke_key(prefix, current_user)
        except KeyNotFound:
            abort(404)
    return redirect(url_for("dashboard.keys"))


@bp.get("/dashboard/credits")
@login_required
def credits_page():
    plan = get_plan(current_user.plan)
    return render_template("credits.html", title="Credits", plan=plan, read_rpm=read_rpm(plan),
                           entries=credits.ledger(current_user.id, 100))


@bp.get("/dashboard/jobs")
@login_required
def jobs():
    cursor = request.args.get("cursor") or None
    try:
        page, next_cursor = list_jobs(current_user, JOBS_PER_PAGE, cursor)
    except ValidationFailed:
        return redirect(url_for("dashboard.jobs"))
    return render_template("jobs.html", title="Jobs", jobs=page, next_cursor=next_cursor, first_page=not cursor,
                           timings=timings)


def _owned_job(job_id: str) -> Job:
    try:
        return get_job(current_user, job_id)
    except JobNotFound:
        abort(404)


@bp.get("/dashboard/jobs/<job_id>")
@login_required
def job_detail(job_id: str):
    job = _owned_job(job_id)
    return render_template("job.html", title=f"Job {job.id[:8]}", job=job, timings=timings(job),
                           active=job.status in JobStatus.ACTIVE, operation=OPERATIONS.get(job.operation))


def timings(job: Job) -> dict:
    """Seconds spent waiting in the queue and running, where known."""
    waited = (job.started_at - job.created_at).total_seconds() if job.started_at else None
    ran = (job.finished_at - job.started_at).total_seconds() if job.started_at and job.finished_at else None
    return {"waited": waited, "ran": ran}


def _object_key(job: Job, kind: str) -> str | None:
    if kind == "result":
        return job.result_key if job.status == JobStatus.DONE else None
    return job.mask_key if kind == "mask" else job.input_key


def _read_object(key: str | None) -> bytes:
    if not key:
        abort(404)
    try:
        return get_storage().get(key)
    except ObjectMissing:
        abort(404)
    except StorageError:
        current_app.logger.exception("could not read %s", key)
        abort(502)


@bp.get("/dashboard/jobs/<job_id>/<kind>")
@login_required
def job_image(job_id: str, kind: str):
    """The job's input, mask or result, to its owner only; ?download=1 saves it as a file."""
    if kind not in IMAGE_KINDS:
        abort(404)
    job = _owned_job(job_id)
    data = _read_object(_object_key(job, kind))
    if kind == "result" and job.result_type:
        mimetype = job.result_type
    else:
        mimetype = images.ALLOWED_FORMATS.get(images.sniff_format(data) or "", "application/octet-stream")
    response = Response(data, mimetype=mimetype)
    if request.args.get("download", "").lower() in ("1", "true", "yes"):
        extension = images.EXTENSIONS.get(mimetype, "bin")
        response.headers["Content-Disposition"] = f'attachment; filename="pixelforge-{job.id}-{kind}.{extension}"'
    response.headers["Cache-Control"] = "private, max-age=3600"  # a job's images never change
    return response


@bp.get("/dashboard/jobs/<job_id>/thumbnail")
@login_required
def job_thumbnail(job_id: str):
    """A small PNG of the result when there is one, else of the input: made once and stored (thumbnails)."""
    job = _owned_job(job_id)
    kind = "result" if job.status == JobStatus.DONE and job.result_key else "input"
    source_key = _object_key(job, kind)
    if not source_key or job.expired_at is not None:
        abort(404)
    try:
        picture = thumbnails.stored_or_made(job.id, kind, source_key)
    except (ObjectMissing, ValidationFailed):
        abort(404)
    except StorageError:
        current_app.logger.exception("could not read the thumbnail of job %s", job.id)
        abort(502)
    response = Response(picture, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"  # the page asks by kind: it never changes
    return response
