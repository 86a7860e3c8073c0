"""POST /twilio/sms/status: delivery reports for outbound texts."""

from __future__ import annotations

from flask import request

from textbank.blasts.delivery import apply_status
from textbank.models import utcnow
from textbank.web import redis_ext
from textbank.web.database import db
from textbank.webhooks import bp
from textbank.webhooks.signature import twilio_signed


@bp.post("/sms/status")
@twilio_signed
def sms_status():
    form = request.form
    sid, twilio_status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if not sid or not twilio_status:
        return {"error": "MessageSid and MessageStatus are required"}, 400
    row_id = request.args.get("m", type=int)
    error_code = form.get("ErrorCode", type=int)
    session = db()
    apply_status(
        session, row_id=row_id, sid=sid, twilio_status=twilio_status.lower(),
        error_code=error_code, now=utcnow(), redis_client=redis_ext.client(),
    )  # fmt: skip
    session.commit()
    return "", 204
