"""The form parameters Twilio posts to an app's webhooks, and the signature it puts on them."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from textbank.sandbox.numbers import country
from textbank.sandbox.resources import API_VERSION
from textbank.sandbox.state import Call, Message


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature exactly as Twilio computes it (HMAC-SHA1 of URL + sorted params)."""
    return RequestValidator(auth_token).compute_signature(url, params)


def status_params(
    message: Message, status: str, error_code: int | None, sender: str
) -> dict[str, str]:
    """A message status callback."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "From": message.from_ or sender,
        "MessageSid": message.sid,
        "MessageStatus": status,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "To": message.to,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if error_code:
        params["ErrorCode"] = str(error_code)
    return params


def inbound_params(message: Message, opt_out_type: str | None) -> dict[str, str]:
    """An incoming SMS, as posted to the number's messaging webhook."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "Body": message.body,
        "From": message.from_ or "",
        "FromCountry": country(message.from_ or ""),
        "MessageSid": message.sid,
        "NumMedia": "0",
        "NumSegments": str(message.num_segments),
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": "received",
        "To": message.to,
        "ToCountry": country(message.to),
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if opt_out_type:
        params["OptOutType"] = opt_out_type
    return params


def call_params(call: Call, status: str) -> dict[str, str]:
    """A voice request (answer URL, <Gather> action) or a call status callback."""
    return {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": "outbound-api",
        "From": call.from_,
        "FromCountry": country(call.from_),
        "To": call.to,
        "ToCountry": country(call.to),
    }
