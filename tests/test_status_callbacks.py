"""POST /twilio/sms/status: signed, idempotent, never moving a message backwards."""

import pytest
from blast_helpers import seed, signed_post
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from textbank.db import session_scope
from textbank.models import Campaign, Member, OutboundMessage
from textbank.twilio.codes import MessageStatus


@pytest.fixture
def row_id(sessions):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    with session_scope(sessions) as session:
        campaign = Campaign(
            name="c",
            kind="gotv",
            message="hi",
            translations={},
            audience={},
            keywords={},
            replies={},
            status="sending",
        )
        session.add(campaign)
        session.flush()
        member = session.scalar(select(Member))
        row = OutboundMessage(
            campaign_id=campaign.id,
            member_id=member.id,
            phone=member.phone,
            body="hi",
            language="en",
            status=MessageStatus.SENDING,
            attempts=1,  # claimed by a worker, as every row in flight is
        )
        session.add(row)
        session.flush()
        return row.id


_post = signed_post


def _status(sessions, row_id):
    with session_scope(sessions) as session:
        row = session.get(OutboundMessage, row_id)
        return row.status, row.twilio_sid, row.error_code


def _params(status, **extra):
    return {"MessageSid": "SM" + "a" * 32, "MessageStatus": status, "AccountSid": "AC1", **extra}


def test_out_of_order_and_duplicate_callbacks_never_regress(client, settings, sessions, row_id):
    path = f"/twilio/sms/status?m={row_id}"
    assert _post(client, settings, path, _params("delivered")).status_code == 204
    assert _status(sessions, row_id) == (MessageStatus.DELIVERED, "SM" + "a" * 32, None)
    for late in ("sent", "queued", "delivered", "sent"):
        assert _post(client, settings, path, _params(late)).status_code == 204
    assert _status(sessions, row_id)[0] == MessageStatus.DELIVERED


def test_a_callback_for_a_row_never_sent_is_ignored(client, settings, sessions, row_id):
    """Twilio only learns a row's callback URL from the worker that sends it: a report for
    a row still waiting its turn is about another message, and must not mark it texted."""
    with session_scope(sessions) as session:
        row = session.get(OutboundMessage, row_id)
        row.status, row.attempts = MessageStatus.PENDING, 0
    path = f"/twilio/sms/status?m={row_id}"
    assert _post(client, settings, path, _params("delivered")).status_code == 204
    assert _status(sessions, row_id) == (MessageStatus.PENDING, None, None)


def test_undelivered_keeps_the_error_code(client, settings, sessions, row_id):
    path = f"/twilio/sms/status?m={row_id}"
    _post(client, settings, path, _params("sent"))
    _post(client, settings, path, _params("undelivered", ErrorCode="30003"))
    _post(client, settings, path, _params("delivered"))  # a terminal status is final
    assert _status(sessions, row_id) == (MessageStatus.UNDELIVERED, "SM" + "a" * 32, 30003)


@pytest.mark.parametrize("signature", ["", "forged+signature="])
def test_unsigned_or_forged_callbacks_are_refused(client, settings, sessions, row_id, signature):
    response = _post(
        client,
        settings,
        f"/twilio/sms/status?m={row_id}",
        _params("delivered"),
        signature=signature,
    )
    assert response.status_code == 403
    assert _status(sessions, row_id)[0] == MessageStatus.SENDING


def test_signature_over_a_different_url_is_refused(client, settings, sessions, row_id):
    """A signature made for another message's callback URL cannot move this one."""
    params = _params("delivered")
    other = settings.public_base_url + f"/twilio/sms/status?m={row_id + 1}"
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(other, params)
    response = client.post(
        f"/twilio/sms/status?m={row_id}", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_a_callback_moving_its_row_is_two_statements(app, client, settings, sessions, row_id):
    """Two callbacks come back for every text: the one that moves the row forward is one
    UPDATE (checking what a read would) and the member's engagement mark, nothing more."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):  # SQLite's own BEGIN
            statements.append(statement)

    engine = app.extensions["textbank.engine"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        path = f"/twilio/sms/status?m={row_id}"
        assert _post(client, settings, path, _params("sent")).status_code == 204
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 2, statements
    assert _status(sessions, row_id) == (MessageStatus.SENT, "SM" + "a" * 32, None)
    with session_scope(sessions) as session:
        assert session.scalar(select(Member.first_texted_at)) is not None


def test_the_common_report_is_recorded_before_flask_and_the_rest_by_the_route(
    client, settings, sessions, row_id, monkeypatch
):
    """A signed report moving its row forward is recorded in front of Flask (fast_status),
    and so is a duplicate of it (answered after one read); one with an error code is the
    route's, as before."""
    from textbank.webhooks import status as route

    calls: list[str] = []
    real = route.apply_status

    def counted(*args, **kwargs):
        calls.append(kwargs["twilio_status"])
        return real(*args, **kwargs)

    monkeypatch.setattr(route, "apply_status", counted)
    path = f"/twilio/sms/status?m={row_id}"
    assert _post(client, settings, path, _params("sent")).status_code == 204
    assert calls == []  # recorded without the route
    assert _status(sessions, row_id)[0] == MessageStatus.SENT
    assert _post(client, settings, path, _params("sent")).status_code == 204  # a duplicate
    assert calls == []
    assert (
        _post(client, settings, path, _params("undelivered", ErrorCode="30003")).status_code == 204
    )
    assert calls == ["undelivered"]
    assert _status(sessions, row_id) == (MessageStatus.UNDELIVERED, "SM" + "a" * 32, 30003)
    forged = _post(client, settings, path, _params("delivered"), signature="bad")
    assert forged.status_code == 403 and calls == ["undelivered"]


def test_a_report_that_moves_nothing_is_one_read_and_answered_before_flask(
    app, client, settings, sessions, row_id, monkeypatch
):
    """A duplicate or late report ("sent" after "delivered") changes nothing: it is answered
    204 after a single SELECT, the row untouched, and the route never sees it."""
    from sqlalchemy import event

    from textbank.webhooks import status as route

    calls: list[str] = []
    monkeypatch.setattr(route, "apply_status", lambda *a, **kw: calls.append(kw["twilio_status"]))
    path = f"/twilio/sms/status?m={row_id}"
    assert _post(client, settings, path, _params("delivered")).status_code == 204
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(statement)

    engine = app.extensions["textbank.engine"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for late in ("sent", "delivered", "sending"):
            assert _post(client, settings, path, _params(late)).status_code == 204
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert calls == []
    # Each: the forward UPDATE that matches nothing, then the one read.
    assert len(statements) == 6, statements
    assert sum(s.lstrip().upper().startswith("SELECT") for s in statements) == 3
    assert _status(sessions, row_id) == (MessageStatus.DELIVERED, "SM" + "a" * 32, None)


def test_a_report_for_another_sid_or_an_unclaimed_row_still_goes_to_the_route(
    client, settings, sessions, row_id, monkeypatch
):
    """Only a report about the row's own SID is settled before Flask; a report naming another
    SID (a stale URL, a restored database) is the route's to log and refuse, as before."""
    from textbank.webhooks import status as route

    calls: list[str] = []
    real = route.apply_status

    def counted(*args, **kwargs):
        calls.append(kwargs["sid"])
        return real(*args, **kwargs)

    monkeypatch.setattr(route, "apply_status", counted)
    path = f"/twilio/sms/status?m={row_id}"
    assert _post(client, settings, path, _params("delivered")).status_code == 204
    other = {**_params("delivered"), "MessageSid": "SM" + "b" * 32}
    assert _post(client, settings, path, other).status_code == 204
    assert calls == ["SM" + "b" * 32]
    assert _status(sessions, row_id) == (MessageStatus.DELIVERED, "SM" + "a" * 32, None)
