"""Conversations over the API: filtered, cursor-paged lists and one thread."""

from __future__ import annotations

from flask import g, jsonify, request

from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.conversations import threads
from textbank.conversations.inbox import InboxArgsError, InboxFilter, conversations
from textbank.web.database import db


@bp.get("/conversations")
@require_role(*MANAGERS)
def list_conversations():
    try:
        f = InboxFilter.from_args(request.args)
    except InboxArgsError as exc:
        raise ApiError(str(exc), 400) from exc
    page, cursor = conversations(db(), g.user, f)
    return jsonify(conversations=[s.to_dict() for s in page], next=cursor)


@bp.get("/conversations/<int:conversation_id>")
@require_role(*MANAGERS)
def read_conversation(conversation_id: int):
    session = db()
    try:
        c = threads.open_conversation(session, g.user, conversation_id)
    except LookupError as exc:
        raise ApiError(str(exc), 404) from exc
    t = threads.thread(session, c)
    return jsonify(
        id=c.id, campaign_id=c.campaign_id, status=c.status, assigned_to=c.volunteer_id,
        waiting=t.waiting, member_id=c.member_id, first_name=t.first_name,
        last_name=t.last_name, local=t.local, language=t.language, opted_out=t.opted_out,
        created_at=c.created_at.isoformat(), last_message_at=c.last_message_at.isoformat(),
        messages=[
            {"direction": line.direction, "body": line.body, "at": line.at.isoformat(),
             "status": line.status, "by_volunteer": line.by_volunteer}
            for line in t.lines
        ],
    )  # fmt: skip
