"""Scheduled digests of engagement counts to local leaders."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from textbank import enqueue
from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.models import DigestSchedule, utcnow
from textbank.reports.digests import DigestError, create_schedule, schedule_to_dict
from textbank.web import redis_ext
from textbank.web.database import db


@bp.post("/digests")
@require_role(*MANAGERS)
def create_digest():
    session = db()
    try:
        schedule = create_schedule(session, request.get_json(silent=True), utcnow())
    except DigestError as exc:
        raise ApiError(str(exc), 400) from exc
    session.commit()
    enqueue.digest(redis_ext.client(), schedule)
    return jsonify(schedule_to_dict(schedule)), 201


@bp.get("/digests")
@require_role(*MANAGERS)
def list_digests():
    schedules = db().scalars(select(DigestSchedule).order_by(DigestSchedule.id))
    return jsonify(digests=[schedule_to_dict(s) for s in schedules])


@bp.delete("/digests/<int:schedule_id>")
@require_role(*MANAGERS)
def stop_digest(schedule_id: int):
    session = db()
    schedule = session.get(DigestSchedule, schedule_id)
    if schedule is None:
        raise ApiError(f"no digest {schedule_id}", 404)
    schedule.enabled = False  # its queued slot finds it disabled and does nothing
    session.commit()
    return jsonify(schedule_to_dict(schedule))
