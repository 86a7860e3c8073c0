"""A volunteer's Send (the console's htmx POST /volunteer/campaigns/<id>/send) as plain WSGI,
in front of Flask.

A shift is mostly presses of Send: 200 volunteers press ~130 times a second, and Flask's
request machinery (hooks, the ORM's user, form parsing, the request and app contexts) cost
the web process more CPU than the send itself (scripts/bench_console.py). The common press
is answered here with the checks Flask makes, in the order it makes them, by the same
functions where they are plain ones: the signed session cookie through the app's own
session interface, the CSRF token as flask_wtf checks it, then in one transaction of three
statements the row pressed with its holder's account — the row the volunteer's own, the
account active, its sessions not ended, its role allowed (web.auth) — its release
(batches.send_first, which also keeps the opt-out list, the member's hours and a second
press from sending twice) and the next card; and the answer rendered from the same
template, with the headers and refreshed cookie Flask would send. The view reads the
account in a statement of its own first: four.

Only a press every check passes is answered here. Anything else — another path or query, a
non-htmx post, a body that is not a small plain form or has other or repeated fields or a
NUL, no session, a missing, expired or forged token, a signed-out, deactivated or ended
session, a row not the volunteer's — goes to the Flask view unchanged (the body already
read is put back), whose answer (400, a redirect to sign in, 404) it always was.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from flask import Flask
from flask.sessions import SessionMixin
from flask_wtf.csrf import same_origin
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from textbank import enqueue
from textbank.consoles.common import EVERYONE, language_name, when
from textbank.conversations import batches
from textbank.models import utcnow
from textbank.values import MAX_ID, BadValue, record_id
from textbank.web.auth import may_enter, secure_headers, session_current
from textbank.webhooks.plain import put_back, read_form

log = logging.getLogger(__name__)

PATH = re.compile(r"/volunteer/campaigns/([1-9][0-9]{0,9})/send")
CARD = "volunteer/_card.html"
FIELDS = {"csrf_token", "row"}  # all the console's Send form posts


class FastSend:
    """WSGI middleware: the console's common Send; everything else goes to `app` as it came."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app
        self.settings = flask_app.extensions["textbank.settings"]
        # url_for in a request without a SCRIPT_NAME (only those come here): the path alone.
        self.urls = flask_app.url_map.bind("")
        self._signers: dict[str | bytes, URLSafeTimedSerializer] = {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = PATH.fullmatch(environ.get("PATH_INFO", ""))
        if (
            path is None
            or environ.get("QUERY_STRING")
            or environ.get("HTTP_HX_REQUEST") != "true"  # a plain form post is redirected
            or int(path[1]) > MAX_ID
        ):
            return self.app(environ, start_response)
        body = read_form(environ)
        if body is None:
            return self.app(environ, start_response)
        answer = self._answer(environ, int(path[1]), body)
        if answer is None:
            log.debug("send in campaign %s: answered by the view", path[1])
            put_back(environ, body)
            return self.app(environ, start_response)
        return answer(environ, start_response)

    def _answer(self, environ: dict, campaign_id: int, body: bytes):
        """The Flask view's response to this press, or None where the view is to answer."""
        form = _form(body)
        if form is None:
            return None
        app = self.flask_app
        request = app.request_class(environ)
        session = app.session_interface.open_session(app, request)
        if session is None or not self._csrf_ok(request, session, form["csrf_token"]):
            return None
        user_id = session.get("user_id")
        try:
            row_id = record_id(form["row"], "row")
            since = float(session.get("since", 0))
        except (BadValue, TypeError, ValueError):
            return None
        if type(user_id) is not int:  # a bool is the view's to judge
            return None
        db: Session = app.extensions["textbank.sessions"]()
        try:
            # The row with its holder's account: theirs, and their sign-in still good.
            row = batches.pressed(db, row_id)
            if (
                row is None
                or row.volunteer_id != user_id
                or not row.holder_active
                or not session_current(row.holder_sessions_valid_after, since)
                or not may_enter(row.holder_role, EVERYONE)
            ):
                return None  # not theirs (the view's 404) or not signed in (its redirect)
            window, now = self.settings.send_window, utcnow()
            try:
                sent = batches.send_first(db, user_id, row_id, window, now, campaign_id, row)
            except LookupError:
                return None  # not a P2P text of this campaign: the view's 404
            card = batches.next_card(db, user_id, campaign_id, window, now)
            db.commit()
        finally:
            db.close()  # rolls back whatever was not committed
        if sent.outcome == "queued":
            redis = app.extensions["textbank.redis"].get()
            enqueue.released(redis, sent.campaign_id, [sent.row_id])
        token = self._signer()[0].dumps(session[self._field()])
        html = app.jinja_env.get_template(CARD).render(
            campaign_id=campaign_id, card=card, result=sent, when=when,
            language_name=language_name, csrf_token=lambda: token, url_for=self._url_for,
        )  # fmt: skip
        response = secure_headers(app.response_class(html))
        app.session_interface.save_session(app, session, response)  # refreshed, as Flask does
        return response

    def _field(self) -> str:
        return self.flask_app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"

    def _signer(self) -> tuple[URLSafeTimedSerializer, int | None]:
        """flask_wtf's token signer (its secret, salt and time limit)."""
        config = self.flask_app.config
        secret: str | bytes = config.get("WTF_CSRF_SECRET_KEY") or self.flask_app.secret_key or ""
        if secret not in self._signers:
            self._signers[secret] = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
        return self._signers[secret], config.get("WTF_CSRF_TIME_LIMIT", 3600)

    def _csrf_ok(self, request, session: SessionMixin, token: str) -> bool:
        """flask_wtf's CSRFProtect.protect, for a token in the form: True where it passes."""
        if not self.flask_app.secret_key or not token:
            return False
        expected = session.get(self._field())
        if not isinstance(expected, str):
            return False
        signer, time_limit = self._signer()
        try:
            raw = signer.loads(token, max_age=time_limit)
        except BadData:
            return False
        if not isinstance(raw, str) or not hmac.compare_digest(expected, raw):
            return False
        if request.is_secure and self.flask_app.config.get("WTF_CSRF_SSL_STRICT", True):
            if self.flask_app.config.get("TRUSTED_HOSTS"):
                return False  # the host is Flask's to check
            referrer = request.referrer
            return bool(referrer) and same_origin(referrer, f"https://{request.host}/")
        return True

    def _url_for(self, endpoint: str, **values) -> str:
        return self.urls.build(endpoint, values)


def _form(body: bytes) -> dict[str, str] | None:
    """The Send form's two fields, as Werkzeug parses them; None for anything else."""
    try:
        items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
    except ValueError:
        return None
    form = dict(items)
    if len(form) != len(items) or set(form) != FIELDS:
        return None
    if any("\x00" in value for value in form.values()):
        return None  # the view's 400
    return form
