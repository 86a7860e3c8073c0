"""The live inbox's feed: a reply read once and rendered once, then published to consoles.

The worker that routes a reply reads the conversation's list entry and its thread in one
go, right after routing it, and renders the HTML fragments a console swaps in (the same
templates the pages use). It publishes them as ready Server-Sent Events to the channels
allowed to see them: the holder's own, the managers', and the pool's only when
volunteers may take the conversation. A console's event stream relays what it is sent
and reads nothing: 200 open consoles cost one read per reply, not 200.

No Flask here: the worker renders with its own Jinja environment over the same templates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cache

import redis
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection, bindparam, select

from textbank.conversations import live
from textbank.conversations.inbox import Summary
from textbank.conversations.sql import CONV
from textbank.conversations.threads import lines_for
from textbank.models import (
    Campaign,
    ConversationStatus,
    InboundMessage,
    Local,
    Member,
    table,
)
from textbank.replies.keywords import sounds_like_opt_out

log = logging.getLogger(__name__)

IN, MEMBERS, LOCALS, CAMPAIGNS = table(InboundMessage), table(Member), table(Local), table(Campaign)

# An outbound text's status, in the words a volunteer reads (pages and feed alike).
STATUS_WORDS = {"pending": "sending", "sending": "sending", "deferred": "waits for their hours",
                "sent": "sent", "delivered": "delivered", "undelivered": "not delivered",
                "failed": "not delivered", "skipped": "not sent: opted out"}  # fmt: skip


def asks_to_stop(text: str | None) -> bool:
    """A list entry's flag: the last text reads like a stop no rule caught."""
    return bool(text) and sounds_like_opt_out(text or "")


def conversation_path(conversation_id: int) -> str:
    """The console's address of a conversation (the volunteer blueprint's route)."""
    return f"/volunteer/conversations/{conversation_id}"


_LAST_TEXT = (
    select(IN.c.body)
    .where(IN.c.conversation_id == CONV.c.id)
    .order_by(IN.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
# The list entry and what the routing needs to know of who may see it: one statement.
_ENTRY = (
    select(
        CONV.c.id, CONV.c.campaign_id, CONV.c.member_id, CONV.c.volunteer_id, CONV.c.status,
        CONV.c.answered_at, CONV.c.last_message_at, CONV.c.created_at,
        MEMBERS.c.id.label("member_found"), MEMBERS.c.first_name, MEMBERS.c.language,
        MEMBERS.c.opted_out_at,
        LOCALS.c.number.label("local"), CAMPAIGNS.c.name.label("campaign"),
        CAMPAIGNS.c.volunteer_replies, _LAST_TEXT.label("last_text"),
        select(IN.c.created_at).where(IN.c.id == bindparam("inbound_id"))
        .scalar_subquery().label("stored_at"),
    )
    .select_from(
        CONV.outerjoin(MEMBERS, MEMBERS.c.id == CONV.c.member_id)
        .outerjoin(LOCALS, LOCALS.c.id == MEMBERS.c.local_id)
        .outerjoin(CAMPAIGNS, CAMPAIGNS.c.id == CONV.c.campaign_id)
    )
    .where(CONV.c.id == bindparam("conversation_id"))
)  # fmt: skip


@cache
def templates() -> Environment:
    """The console's templates, autoescaped as Flask's are (member text is escaped)."""
    env = Environment(
        loader=PackageLoader("textbank", "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    env.globals.update(status_words=STATUS_WORDS, conversation_url=conversation_path,
                       asks_to_stop=asks_to_stop)  # fmt: skip
    return env


def sse(event: str, html: str) -> str:
    """One event; every line of the payload on a data: line of its own."""
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {event}\n{data}\n\n"


@dataclass
class Update:
    """A reply's rendered events, by the channel each goes to (published after the commit)."""

    conversation_id: int
    inbound_id: int
    stored_at: float
    payloads: dict[str, str] = field(default_factory=dict)

    def publish(self, client: redis.Redis | None) -> None:
        if client is None or not self.payloads:
            return
        # An SSE comment (browsers skip it) timing the hops: stored by the webhook, published.
        stamp = (f": reply {self.inbound_id} stored {self.stored_at:.3f} "
                 f"published {time.time():.3f}\n")  # fmt: skip
        try:
            with client.pipeline(transaction=False) as pipe:
                for channel, payload in self.payloads.items():
                    pipe.publish(live.scoped(client, channel), stamp + payload)
                pipe.execute()
        except redis.RedisError as exc:
            # The reply is stored and in the inbox; a console that missed it sees it on reload.
            log.warning("conversation %s: not pushed live (%s)", self.conversation_id, exc)


def _render(summary: Summary, thread: dict, viewer_id: int | None, which: str) -> str:
    env = templates()
    entry = env.get_template("volunteer/_entry.html").render(s=summary, list=which)
    lines = env.get_template("volunteer/_lines.html").render(t=thread, viewer_id=viewer_id)
    if thread["opted_out"]:  # the open thread says so and stops offering Reply
        c = {"id": summary.id, "status": summary.status}
        lines += env.get_template("volunteer/_opted_out_live.html").render(t=thread, c=c)
    return sse("entry", entry) + sse(f"conv-{summary.id}", lines)


def read_update(conn: Connection, conversation_id: int, inbound_id: int) -> Update | None:
    """The conversation's entry and thread, read once and rendered for each channel that may
    see it; None if the conversation is gone. Never a phone number: none is read."""
    row = conn.execute(_ENTRY, {"conversation_id": conversation_id,
                                "inbound_id": inbound_id}).first()  # fmt: skip
    if row is None:
        return None
    is_open = row.status == ConversationStatus.OPEN
    waiting = is_open and (row.answered_at is None or row.answered_at < row.last_message_at)
    summary = Summary(row.id, row.campaign_id, row.campaign, row.first_name or "", row.local,
                      row.language, row.status, row.volunteer_id, waiting, row.last_message_at,
                      row.last_text or "", row.created_at)  # fmt: skip
    member_id = row.member_id if row.member_found is not None else None
    thread = {"first_name": row.first_name or "", "opted_out": row.opted_out_at is not None,
              "lines": lines_for(conn, row.id, row.campaign_id, member_id)}  # fmt: skip
    stored = row.stored_at.timestamp() if row.stored_at is not None else time.time()
    update = Update(conversation_id, inbound_id, stored)
    holder = row.volunteer_id
    # The pool's rule (threads.POOL_RULE): open, nobody's, a member's, volunteers answer.
    pooled = (
        holder is None and is_open and row.member_id is not None and bool(row.volunteer_replies)
    )
    shared = _render(summary, thread, None, "pool" if holder is None else "mine")
    update.payloads[live.MANAGERS_CHANNEL] = shared
    if holder is not None:
        update.payloads[live.user_channel(holder)] = _render(summary, thread, holder, "mine")
    elif pooled:
        update.payloads[live.POOL_CHANNEL] = shared
    return update
