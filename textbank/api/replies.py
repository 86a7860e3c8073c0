"""Outcomes and the opt-out ledger over the API."""

from __future__ import annotations

from flask import Response, g, jsonify, request

from textbank import audit, csvexport
from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.compliance.optouts import import_suppression_list, ledger
from textbank.compliance.suppression_file import NotASuppressionList, read_suppression_list
from textbank.engagement.outcomes import OutcomeError, member_outcomes, record_from_api
from textbank.models import utcnow
from textbank.reports.formats import ReportArgsError, parse_time
from textbank.web import redis_ext
from textbank.web.database import db
from textbank.web.limits import upload_body

LEDGER_FIELDS = ("phone", "member_id", "kind", "source", "text", "reason", "at")


@bp.post("/members/<int:member_id>/outcomes")
@require_role(*MANAGERS)
def add_outcome(member_id: int):
    session = db()
    try:
        result = record_from_api(session, member_id, request.get_json(silent=True), utcnow())
    except LookupError as exc:
        raise ApiError(str(exc), 404) from exc
    except OutcomeError as exc:
        raise ApiError(str(exc), 400) from exc
    session.commit()
    return jsonify(result), 201 if result["created"] else 200


@bp.get("/members/<int:member_id>/outcomes")
@require_role(*MANAGERS)
def list_outcomes(member_id: int):
    return jsonify(outcomes=member_outcomes(db(), member_id))


@bp.get("/opt-outs")
@require_role(*MANAGERS)
def export_opt_outs():
    try:
        since_at = parse_time(request.args.get("since"), "since")
    except ReportArgsError as exc:
        raise ApiError(str(exc), 400) from exc
    events = ledger(db(), since_at)
    if request.args.get("format", "json") == "csv":
        return Response(
            csvexport.to_csv(LEDGER_FIELDS, events),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=opt-outs.csv"},
        )
    return jsonify(events=events)


def _phones_from_upload() -> list[tuple]:
    if request.is_json:  # JSON lists keep the 1 MiB limit: tens of thousands of numbers
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("phones"), list):
            raise ApiError('phones: send {"phones": ["+16175550101", ...]} or a CSV file', 400)
        return [(i + 1, str(p)) for i, p in enumerate(payload["phones"])]
    data = upload_body().read()
    try:
        return list(read_suppression_list(data))
    except NotASuppressionList as exc:
        raise ApiError(f"not a suppression list: {exc}", 400) from exc


@bp.post("/opt-outs")
@require_role(*MANAGERS)
def import_opt_outs():
    phones = _phones_from_upload()
    if not phones:
        raise ApiError("the suppression list has no phone numbers", 400)
    session = db()
    user = g.user
    result = import_suppression_list(session, phones, utcnow(), redis_ext.client(), user.id)
    audit.record(session, user, "optouts.import", "through the API", added=result["added"])
    session.commit()
    return jsonify(result)
