"""Twilio clients pointed at TWILIO_API_URL: the real API, or the sandbox carrier."""

from __future__ import annotations

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from textbank.config import Settings

REQUEST_TIMEOUT = 10.0  # seconds; Twilio answers in well under a second when healthy


def _point_at(client: Client, settings: Settings) -> Client:
    # Every REST domain the app uses lives under api.twilio.com; the sandbox serves it too.
    client.api.base_url = settings.twilio_api_url
    return client


def rest_client(settings: Settings, timeout: float = REQUEST_TIMEOUT) -> Client:
    """A blocking client, for one-off calls (reconciliation, voice)."""
    http = TwilioHttpClient(timeout=timeout)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    return _point_at(client, settings)


def async_client(settings: Settings, timeout: float = REQUEST_TIMEOUT) -> Client:
    """An aiohttp-backed client: many sends in flight from one worker thread."""
    http = AsyncTwilioHttpClient(timeout=timeout)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    return _point_at(client, settings)
