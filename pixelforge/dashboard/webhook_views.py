"""Dashboard: the account's webhook signing secret, each API key's default webhook, and the deliveries with their
attempt log and a redeliver button."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import Length

from pixelforge import webhooks
from pixelforge.dashboard import bp
from pixelforge.extensions import db
from pixelforge.models import ApiKey
from pixelforge.operations import ValidationFailed


class KeyWebhookForm(FlaskForm):
    url = StringField("Webhook URL", validators=[Length(max=2000)],
                      description="Jobs submitted with this key are sent here unless they name their own "
                                  "webhook_url. Leave empty for none.")
    events = StringField("Events", validators=[Length(max=64)],
                         description=f"Comma-separated: {', '.join(webhooks.EVENTS)} "
                                     f"(empty: {', '.join(webhooks.DEFAULT_EVENTS)}).")
    submit = SubmitField("Save")


class ActionForm(FlaskForm):
    submit = SubmitField("Go")


def _active_keys() -> list[ApiKey]:
    return list(db.session.scalars(db.select(ApiKey).filter_by(user_id=current_user.id, revoked_at=None)
                                   .order_by(ApiKey.created_at.desc())))


@bp.get("/dashboard/webhooks")
@login_required
def webhooks_page():
    keys = _active_keys()
    forms = {key.prefix: KeyWebhookForm(formdata=None, prefix=key.prefix, url=key.webhook_url or "",
                                        events=key.webhook_events or "") for key in keys}
    return render_template("webhooks.html", title="Webhooks", secret=webhooks.secret_for(current_user.id),
                           keys=keys, forms=forms, action=ActionForm(),
                           deliveries=webhooks.list_deliveries(current_user.id, request.args.get("job_id"), 50))


@bp.post("/dashboard/webhooks/keys/<prefix>")
@login_required
def save_key_webhook(prefix: str):
    key = db.session.scalar(db.select(ApiKey).filter_by(user_id=current_user.id, prefix=prefix, revoked_at=None))
    if key is None:
        abort(404)
    form = KeyWebhookForm(prefix=prefix)
    if form.validate_on_submit():
        from pixelforge import netguard

        url = (form.url.data or "").strip() or None
        try:
            events = webhooks.parse_events(form.events.data)
            if url:
                netguard.check_url(url, "webhook_url")
        except ValidationFailed as exc:
            flash(exc.message, "error")
            return redirect(url_for("dashboard.webhooks_page"))
        key.webhook_url, key.webhook_events = url, events if url else None
        db.session.commit()
        flash(f"Saved the webhook of key {prefix}…" if url else f"Key {prefix}… has no webhook now.", "success")
    return redirect(url_for("dashboard.webhooks_page"))


@bp.post("/dashboard/webhooks/secret/rotate")
@login_required
def rotate_webhook_secret():
    if ActionForm().validate_on_submit():
        webhooks.rotate_secret(current_user.id)
        flash("A new signing secret is in use; update your receivers.", "success")
    return redirect(url_for("dashboard.webhooks_page"))


@bp.get("/dashboard/webhooks/deliveries/<delivery_id>")
@login_required
def webhook_delivery(delivery_id: str):
    try:
        delivery = webhooks.get_delivery(current_user.id, delivery_id)
    except webhooks.DeliveryNotFound:
        abort(404)
    return render_template("webhook_delivery.html", title=f"Delivery {delivery.id[:12]}", delivery=delivery,
                           attempts=webhooks.attempts_of(delivery.id), action=ActionForm())


@bp.post("/dashboard/webhooks/deliveries/<delivery_id>/redeliver")
@login_required
def redeliver_webhook(delivery_id: str):
    if ActionForm().validate_on_submit():
        try:
            webhooks.redeliver(current_user.id, delivery_id)
        except webhooks.DeliveryNotFound:
            abort(404)
        flash("Queued again: the same message (same webhook-id) goes out now.", "success")
    return redirect(url_for("dashboard.webhook_delivery", delivery_id=delivery_id))
