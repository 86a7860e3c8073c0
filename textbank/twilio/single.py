"""One text to one phone that is no campaign's member: a volunteer's sign-in link."""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException

from textbank.config import Settings
from textbank.twilio.clients import rest_client

log = logging.getLogger(__name__)


class NotSent(Exception):
    """Twilio did not take the text; the message says why, in words for a manager."""


def send_text(settings: Settings, to: str, body: str) -> str:
    """Text `body` to `to` from the organization's number (or Messaging Service); returns
    the message SID. Callers check the opt-out list first, and hold no transaction open."""
    params = {"to": to, "body": body}
    if settings.twilio_messaging_service_sid:
        params["messaging_service_sid"] = settings.twilio_messaging_service_sid
    else:
        params["from_"] = settings.twilio_from_number or ""
    try:
        message = rest_client(settings).messages.create(**params)
    except TwilioException as exc:
        log.warning("text to …%s not sent: %s", to[-4:], exc)
        raise NotSent(getattr(exc, "msg", None) or str(exc)) from exc
    log.info("texted …%s: %s", to[-4:], message.sid)
    return message.sid
