"""Helpers for blast tests: seed members, create and launch campaigns, run the queue."""

from __future__ import annotations

import collections

from rq import SimpleWorker

from textbank.db import session_scope
from textbank.enqueue import ALL_QUEUES, QueueName, queue
from textbank.members.importer import import_members
from workers import context


def seed(sessions, rows: list[tuple]) -> None:
    """rows: (first_name, phone, local, language[, tags])."""
    lines = ["first_name,phone,local,language,tags"]
    for row in rows:
        first, phone, local, language, *rest = row
        lines.append(f"{first},{phone},{local},{language},{rest[0] if rest else ''}")
    with session_scope(sessions) as session:
        import_members(session, "\n".join(lines).encode())


def run_queue(settings) -> None:
    """Work every queued job in this process until the queues are empty."""
    ctx = context.setup(settings)
    worker = SimpleWorker([queue(q, ctx.redis) for q in ALL_QUEUES], connection=ctx.redis)
    worker.work(burst=True, logging_level="WARNING")


def act_on_replies(settings) -> None:
    """Work the replies queue alone, as a worker would: the stored replies are acted on,
    and what they queue to send stays queued."""
    ctx = context.setup(settings)
    worker = SimpleWorker([queue(QueueName.REPLIES, ctx.redis)], connection=ctx.redis)
    worker.work(burst=True, logging_level="WARNING")


def texts_by_phone(sandbox) -> dict[str, list[str]]:
    """Every outbound text the carrier accepted, grouped by recipient."""
    out: dict[str, list[str]] = collections.defaultdict(list)
    for m in sandbox.state.all_messages():
        if m.direction == "outbound-api":
            out[m.to].append(m.body)
    return dict(out)


def signed_post(client, settings, path: str, params: dict, signature: str | None = None):
    """POST form params as Twilio would, signed for PUBLIC_BASE_URL + path."""
    from twilio.request_validator import RequestValidator

    if signature is None:
        url = settings.public_base_url + path
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(path, data=params, headers=headers)


_sids = iter(range(10**6))


def inbound(from_: str, body: str, **extra) -> dict:
    """Twilio's inbound SMS parameters for a member's reply."""
    sid = f"SM{next(_sids):032x}"
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": from_,
            "To": "+15005550006", "Body": body, "NumMedia": "0", **extra}  # fmt: skip
