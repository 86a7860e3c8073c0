"""The volunteer console: campaigns and batches, one-press first texts, the inbox."""

from __future__ import annotations

import logging
import secrets

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from textbank import enqueue
from textbank.campaigns.p2p import outcomes_of
from textbank.consoles.common import EVERYONE, is_htmx, language_name, mark_seen, me, when
from textbank.conversations import batches, inbox, threads
from textbank.conversations.feed import STATUS_WORDS, asks_to_stop
from textbank.members.fields import FieldError, normalize_language
from textbank.models import ConversationStatus, utcnow
from textbank.replies import confirmations
from textbank.replies.handling import policy_from_settings
from textbank.values import BadValue, record_id, whole_number
from textbank.web import redis_ext, settings
from textbank.web.auth import login_required, secure_headers
from textbank.web.database import db

log = logging.getLogger(__name__)
bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")
bp.after_request(secure_headers)


def _conversation_url(conversation_id: int) -> str:
    return url_for("volunteer.conversation", conversation_id=conversation_id)


@bp.app_context_processor
def _helpers() -> dict:
    # The same helpers the worker's feed renders these templates with (feed.templates).
    return {"language_name": language_name, "when": when, "status_words": STATUS_WORDS,
            "conversation_url": _conversation_url, "asks_to_stop": asks_to_stop}  # fmt: skip


@bp.get("")
@login_required(EVERYONE)
def index():
    mark_seen(me())
    return _home()


def _home(error: str | None = None, status: int = 200):
    user, session = me(), db()
    campaigns = [
        (c, batches.holding(session, user.id, c.id)) for c in batches.open_campaigns(session)
    ]
    mine = inbox.inbox(session, user)
    return render_template(
        "volunteer/home.html", campaigns=campaigns, waiting=sum(s.waiting for s in mine),
        open_count=len(mine), pool_count=len(inbox.pool(session, user)), error=error,
    ), status  # fmt: skip


@bp.post("/settings")
@login_required(EVERYONE)
def save_settings():
    user = me()
    try:
        languages = read_languages(request.form.get("languages", ""))
    except FieldError as exc:
        db().rollback()
        return _home(f"Languages you can text in: {exc}. Nothing was changed.", 400)
    user.large_type = request.form.get("large_type") == "on"
    user.languages = languages
    db().commit()
    flash(f"Saved. Large type is {'on' if user.large_type else 'off'}; you text in "
          f"{', '.join(language_name(code) for code in languages)}.")  # fmt: skip
    return redirect(url_for("volunteer.index"))


def read_languages(text: str) -> list[str]:
    """'en, es' -> ['en', 'es']: the languages a volunteer texts in, English when none."""
    codes = [normalize_language(part) for part in text.replace(";", ",").split(",") if part.strip()]
    if len(codes) > 10:
        raise FieldError("at most 10 languages")
    return list(dict.fromkeys(codes)) or ["en"]


def _campaign(campaign_id: int):
    try:
        return batches.p2p_campaign(db(), campaign_id)
    except LookupError:
        abort(404)


@bp.post("/campaigns/<int:campaign_id>/batch")
@login_required(EVERYONE)
def request_batch(campaign_id: int):
    user, session = me(), db()
    _campaign(campaign_id)
    try:
        batch = batches.request_batch(session, user, campaign_id, utcnow())
    except batches.BatchError as exc:
        session.rollback()
        flash(str(exc))
        return redirect(url_for("volunteer.index"))
    session.commit()
    if batch.already_held:
        flash(f"You already have {batch.holding} members to text in this campaign.")
    elif batch.assigned == 0:
        flash("Everyone in this campaign has been texted or is being texted. Thank you!")
        return redirect(url_for("volunteer.index"))
    else:
        flash(f"Your batch: {batch.assigned} members to text.")
    return redirect(url_for("volunteer.texting", campaign_id=campaign_id))


def _card(campaign_id: int, card, result=None) -> str:
    return render_template("volunteer/_card.html", campaign_id=campaign_id, card=card,
                           result=result)  # fmt: skip


@bp.get("/campaigns/<int:campaign_id>")
@login_required(EVERYONE)
def texting(campaign_id: int):
    user = me()
    mark_seen(user)
    campaign = _campaign(campaign_id)
    card = batches.next_card(db(), user.id, campaign_id, settings().send_window, utcnow())
    return render_template("volunteer/texting.html", campaign=campaign, holding=card is not None,
                           card_html=_card(campaign_id, card))  # fmt: skip


@bp.post("/campaigns/<int:campaign_id>/send")
@login_required(EVERYONE)
def send(campaign_id: int):
    """One press: this member's text to the pipeline and, in the same answer, the next one.

    One transaction (the send and the next card read together, then one commit), and the
    job queued after the commit, so the worker finds the row released.
    """
    user, session = me(), db()
    row_id = request.form.get("row", "")
    if not row_id:
        return "row is required", 400
    row = record_id(row_id, "row")
    window, now = settings().send_window, utcnow()
    try:
        sent = batches.send_first(session, user.id, row, window, now, campaign_id)
    except LookupError:
        abort(404)
    card = batches.next_card(session, user.id, campaign_id, window, now) if is_htmx() else None
    session.commit()
    if sent.outcome == "queued":
        enqueue.released(redis_ext.client(), sent.campaign_id, [sent.row_id])
    if not is_htmx():
        return redirect(url_for("volunteer.texting", campaign_id=campaign_id))
    return _card(campaign_id, card, sent)


@bp.post("/campaigns/<int:campaign_id>/done")
@login_required(EVERYONE)
def done(campaign_id: int):
    user, session = me(), db()
    _campaign(campaign_id)
    released = batches.release_batch(session, user.id, campaign_id, utcnow())
    session.commit()
    if released:
        who = "member you had not texted goes" if released == 1 else "members you had not texted go"
        flash(f"Done for today: your batch was released. The {released} {who} back to other "
              "volunteers. Thank you!")  # fmt: skip
    else:
        flash("Done for today: you held no unsent members. Thank you!")
    return redirect(url_for("volunteer.texting", campaign_id=campaign_id))


# The inbox -------------------------------------------------------------------------------


def _lists() -> dict:
    user, session = me(), db()
    return {"mine": inbox.inbox(session, user), "pool": inbox.pool(session, user), "me_id": user.id}


def _next_up(conversation) -> inbox.Summary | None:
    """After Skip or Opt out: the conversation to go to next (one of mine waiting for an
    answer, else the pool's oldest), so the focus lands on a link to it."""
    if conversation.status == ConversationStatus.OPEN:
        return None
    session, user = db(), me()
    mine = [s for s in inbox.inbox(session, user) if s.waiting and s.id != conversation.id]
    return (
        mine[0]
        if mine
        else next((s for s in inbox.pool(session, user) if s.id != conversation.id), None)
    )


def _thread_context(
    conversation, message: str = "", error: str | None = None, member=None,
    focus: str | None = None,
) -> dict:  # fmt: skip
    session = db()
    t = threads.thread(session, conversation, member)
    return {
        "focus": focus,  # after Reply: the Message box, for the next text
        "next_up": _next_up(conversation) if focus == "next" else None,
        "t": t,
        "canned": threads.canned_for(t),
        "outcomes": outcomes_of(t.campaign) if t.campaign else [],
        "survey": (t.campaign.survey if t.campaign else None),
        "message": message,
        "error": error,
        "request_key": secrets.token_urlsafe(16),
        "viewer_id": me().id,
    }


@bp.get("/inbox")
@login_required(EVERYONE)
def inbox_page():
    mark_seen(me())
    return render_template("volunteer/inbox.html", selected=None, **_lists())


def _conversation(conversation_id: int):
    try:
        return threads.open_conversation(db(), me(), conversation_id)
    except LookupError:
        abort(404)


@bp.get("/conversations/<int:conversation_id>")
@login_required(EVERYONE)
def conversation(conversation_id: int):
    c = _conversation(conversation_id)
    ctx = _thread_context(c)
    if is_htmx():
        return render_template("volunteer/_thread.html", **ctx)
    return render_template("volunteer/inbox.html", selected=c.id, **_lists(), **ctx)


def _after_action(
    conversation, message: str = "", error: str | None = None, status: int = 200,
    member=None, focus: str | None = None,
):  # fmt: skip
    """The thread again after a press; `focus` names where the keyboard goes next in it
    ('message': the Message box; 'next': a link to the next conversation waiting)."""
    db().commit() if error is None else db().rollback()
    if error is not None:
        conversation, member = _conversation(conversation.id), None
    ctx = _thread_context(conversation, message, error, member, focus)
    if is_htmx():
        # The lists beside the thread refresh too (waiting, closed, taken from the pool).
        headers = {"HX-Trigger": "inbox-changed"}
        if error is not None:
            # The refusal's thread says why beside the form: console.js swaps it in (htmx
            # swaps no 4xx answer unless told to).
            headers["X-Textbank-Fragment"] = "thread"
        return render_template("volunteer/_thread.html", **ctx), status, headers
    if error:
        flash(error)
    return redirect(url_for("volunteer.conversation", conversation_id=conversation.id))


@bp.post("/conversations/<int:conversation_id>/reply")
@login_required(EVERYONE)
def reply(conversation_id: int):
    user, session = me(), db()
    c = _conversation(conversation_id)
    body = request.form.get("message", "")
    try:
        threads.take(session, user, c, utcnow())
        # Loaded once, for the reply and for the thread the answer shows.
        member = threads.member_of(session, c)
        row_id = threads.reply(session, user, c, body, request.form.get("key", ""), utcnow(),
                               member)  # fmt: skip
    except threads.ThreadError as exc:
        return _after_action(c, body, str(exc), 400)
    except LookupError:
        abort(404)
    response = _after_action(c, member=member, focus="message")
    if row_id is not None:
        enqueue.released(redis_ext.client(), c.campaign_id, [row_id])
    return response


@bp.post("/conversations/<int:conversation_id>/outcome")
@login_required(EVERYONE)
def outcome(conversation_id: int):
    user, session = me(), db()
    c = _conversation(conversation_id)
    name = request.form.get("outcome", "")
    try:
        threads.take(session, user, c, utcnow())
        created = threads.record(session, user, c, name, utcnow())
    except threads.ThreadError as exc:
        return _after_action(c, error=str(exc), status=400)
    flash(f"Recorded: {name.replace('_', ' ')}." if created else "Already recorded.")
    return _after_action(c)


@bp.post("/conversations/<int:conversation_id>/survey")
@login_required(EVERYONE)
def survey(conversation_id: int):
    user, session = me(), db()
    c = _conversation(conversation_id)
    answer = request.form.get("answer", "")
    try:
        try:
            index = whole_number(answer, "answer", 0, 100)
        except BadValue as exc:
            raise threads.ThreadError("pick one of the survey's answers") from exc
        name, nxt = threads.survey_next(session, c, index)
        threads.take(session, user, c, utcnow())
        threads.record(session, user, c, name, utcnow())
    except threads.ThreadError as exc:
        return _after_action(c, error=str(exc), status=400)
    return _after_action(c, message=nxt or "", focus="message" if nxt else None)


@bp.post("/conversations/<int:conversation_id>/opt-out")
@login_required(EVERYONE)
def opt_out(conversation_id: int):
    user, session = me(), db()
    c = _conversation(conversation_id)
    policy = policy_from_settings(settings())

    def confirmation(language: str | None) -> str:
        return policy.opt_out_reply(language, confirmations.custom_texts(session))

    try:
        row_id = threads.opt_member_out(session, user, c, utcnow(), redis_ext.client(),
                                        confirmation)  # fmt: skip
    except threads.ThreadError as exc:
        return _after_action(c, error=str(exc), status=400)
    flash("Opted out. They will get no more texts from any campaign"
          + (", only the confirmation a STOP gets." if row_id else "."))  # fmt: skip
    response = _after_action(c, focus="next")
    if row_id is not None:
        enqueue.released(redis_ext.client(), c.campaign_id, [row_id])
    return response


@bp.post("/conversations/<int:conversation_id>/close")
@login_required(EVERYONE)
def close(conversation_id: int):
    user, session = me(), db()
    c = _conversation(conversation_id)
    threads.close(session, user, c, utcnow())
    flash("Conversation closed.")
    return _after_action(c, focus="next")


@bp.get("/inbox/lists")
@login_required(EVERYONE)
def lists():
    return render_template("volunteer/_lists.html", **_lists())
