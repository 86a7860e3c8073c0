"""Members API: import a CSV, list members."""

from __future__ import annotations

import logging

from flask import jsonify, request

from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.members.fields import FieldError
from textbank.members.importer import NotAMemberList, import_members
from textbank.members.listing import MAX_PAGE, list_members, member_to_dict
from textbank.values import whole_number
from textbank.web.database import db
from textbank.web.limits import upload_body

log = logging.getLogger(__name__)


@bp.post("/members/import")
@require_role(*MANAGERS)
def import_member_csv():
    data = upload_body().read()
    session = db()
    try:
        result = import_members(session, data)
    except NotAMemberList as exc:
        session.rollback()
        raise ApiError(f"not a member list: {exc}", 400) from exc
    session.commit()
    return jsonify(result.to_dict())


@bp.get("/members")
@require_role(*MANAGERS)
def get_members():
    args = request.args
    limit = whole_number(args.get("limit", "100"), "limit", 1, MAX_PAGE)
    try:
        page = list_members(
            db(),
            local=args.get("local") or None,
            phone=args.get("phone") or None,
            limit=limit,
            after=args.get("after") or None,
        )
    except FieldError as exc:
        raise ApiError(str(exc), 400) from exc
    return jsonify(members=[member_to_dict(m) for m in page.members], next=page.next_cursor)
