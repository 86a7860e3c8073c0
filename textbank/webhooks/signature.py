"""X-Twilio-Signature checks: every webhook proves it came from Twilio."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import wraps

from flask import abort, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import ImmutableMultiDict

from textbank.web import settings

log = logging.getLogger(__name__)

SID_LENGTH = 34  # two letters and 32 hex digits; the columns that keep SIDs hold no more
# Where a path in front of Flask (webhooks.plain) leaves its verdict on the signature, as
# (url, valid), so a request it hands on is not signed twice. No client can set a WSGI
# environ key without the HTTP_ prefix.
VERDICT = "textbank.twilio_signature"


def public_url() -> str:
    """The URL Twilio called, as Twilio saw it.

    Built from PUBLIC_BASE_URL rather than the request's own host and scheme, so the
    check holds behind a TLS-terminating proxy that hands us plain http on another port.
    """
    query = request.query_string.decode()
    return settings().public_base_url + request.path + (f"?{query}" if query else "")


def _valid(url: str, params, signature: str) -> bool:
    # Signed once, over PUBLIC_BASE_URL as configured: Twilio's validate() signs up to three
    # variants of the URL (with and without a port), tripling a forged request's cost.
    expected = RequestValidator(settings().twilio_auth_token).compute_signature(url, params)
    return hmac.compare_digest(expected, signature)


def _checked(url: str, signature: str) -> bool:
    verdict = request.environ.get(VERDICT)
    if verdict is not None and verdict[0] == url:
        return bool(verdict[1])
    return _valid(url, request.form, signature)


def twilio_signed(view: Callable) -> Callable:
    """Refuse (403) any request whose signature does not match; there is no off switch."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not _checked(public_url(), signature):
            log.warning("refused %s: %s X-Twilio-Signature", request.path,
                        "bad" if signature else "missing")  # fmt: skip
            abort(403, "missing or invalid X-Twilio-Signature")
        _clean_form()
        return view(*args, **kwargs)

    return wrapped


def _clean_form() -> None:
    """What every webhook reads, made storable: signed values are checked as Twilio sent them.

    PostgreSQL cannot store a NUL character, and a member's text may carry one: it is kept
    without it rather than lost. A SID longer than Twilio's is no SID of Twilio's (400).
    """
    form = request.form
    for name, value in form.items(multi=True):
        if name.endswith("Sid") and len(value) > SID_LENGTH:
            abort(400, f"{name} is longer than a Twilio SID ({SID_LENGTH} characters)")
    if any("\x00" in name or "\x00" in value for name, value in form.items(multi=True)):
        # Werkzeug's cached form may be replaced: the views then read the stripped values.
        request.form = ImmutableMultiDict(
            [(n.replace("\x00", ""), v.replace("\x00", "")) for n, v in form.items(multi=True)]
        )
