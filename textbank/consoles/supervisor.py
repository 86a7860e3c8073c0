"""The supervisor's view of shifts: online volunteers, batches, waits, search, release."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from textbank.conversations import inbox, live, supervision
from textbank.models import utcnow
from textbank.values import optional_id
from textbank.web import redis_ext
from textbank.web.auth import MANAGERS, login_required, secure_headers
from textbank.web.database import db

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
bp.after_request(secure_headers)


@bp.get("")
@login_required(MANAGERS)
def index():
    session, now = db(), utcnow()
    words = request.args.get("q", "").strip()[:200]
    online = live.online_users(redis_ext.client(), now)
    waits = inbox.waiting_counts(session)
    oldest = waits["oldest"]
    return render_template(
        "volunteer/supervisor.html",
        shifts=supervision.shifts(session, online, now),
        batches=supervision.batches_out(session),
        waits=waits,
        oldest_minutes=int((now - oldest).total_seconds() // 60) if oldest else None,
        words=words,
        found=supervision.search_replies(session, words) if words else [],
        people=supervision.people(session),
    )


def _user_id(name: str) -> int | None:
    return optional_id(request.form.get(name, ""), name)


@bp.post("/release")
@login_required(MANAGERS)
def release():
    volunteer_id = _user_id("volunteer")
    if volunteer_id is None:
        flash("Pick a volunteer to release.")
        return redirect(url_for("supervisor.index"))
    done = supervision.release_contacts(db(), volunteer_id, utcnow())
    db().commit()
    flash(f"Released {done['first_texts']} first texts and {done['conversations']} conversations "
          "to the pool.")  # fmt: skip
    return redirect(url_for("supervisor.index"))


@bp.post("/reassign")
@login_required(MANAGERS)
def reassign():
    from_id, to_id = _user_id("volunteer"), _user_id("to")
    if from_id is None or to_id is None:
        flash("Pick both volunteers to reassign conversations.")
        return redirect(url_for("supervisor.index"))
    try:
        moved = supervision.reassign_conversations(db(), from_id, to_id, utcnow())
    except LookupError as exc:
        flash(str(exc))
        return redirect(url_for("supervisor.index"))
    db().commit()
    flash(f"Moved {moved} open conversations.")
    return redirect(url_for("supervisor.index"))
