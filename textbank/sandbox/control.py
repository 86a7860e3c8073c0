"""The sandbox's own JSON routes (dev-only, no auth): inspect, configure, play members."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from textbank.sandbox import twiml
from textbank.sandbox.numbers import e164
from textbank.sandbox.resources import call_resource, message_resource, new_sid, now, num_segments
from textbank.sandbox.runtime import SANDBOX
from textbank.sandbox.state import Message, MessageStatus
from textbank.sandbox.voice import VOICE_TIMEOUT, CallNotWaiting
from textbank.sandbox.webhooks import inbound_params

# Twilio's default opt-out handling on long codes acts on these exact keywords.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "the body must be a JSON object"}', content_type="application/json"
        ) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text='{"error": "the body must be a JSON object"}', content_type="application/json"
        )
    return data


async def get_state(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    counts = sandbox.state.counts()
    return web.json_response(
        {
            "config": sandbox.config.as_dict(),
            "messages": counts["messages"],
            "by_status": counts["by_status"],
            "requests": sandbox.state.requests(),
            "calls": len(sandbox.state.all_calls()),
            "unsubscribed": sandbox.state.unsubscribed(),
            "pending_callbacks": sandbox.dispatcher.pending(),
        }
    )


async def get_messages(request: web.Request) -> web.Response:
    """Stored messages, oldest first; `?to=` narrows to one number."""
    state = request.app[SANDBOX].state
    raw = request.query.get("to")
    messages = state.messages_to(e164(raw) or raw) if raw else state.all_messages()
    return web.json_response({"messages": [message_resource(m) for m in messages]})


async def post_config(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    try:
        sandbox.config.update(await _json_object(request))
    except ValueError as exc:
        return _bad(str(exc))
    return web.json_response({"config": sandbox.config.as_dict()})


async def post_reset(request: web.Request) -> web.Response:
    """Forget every message, call, opt-out and counter; the config stays."""
    sandbox = request.app[SANDBOX]
    sandbox.state.reset()
    sandbox.reseed()
    return web.json_response({"reset": True})


async def post_unsubscribe(request: web.Request) -> web.Response:
    data = await _json_object(request)
    phone = e164(str(data.get("phone") or ""))
    if phone is None:
        return _bad("phone must be a valid phone number")
    request.app[SANDBOX].state.unsubscribe(phone)
    return web.json_response({"unsubscribed": phone})


async def get_calls(request: web.Request) -> web.Response:
    calls = request.app[SANDBOX].state.all_calls()
    return web.json_response(
        {
            "calls": [
                call_resource(c)
                | {
                    "sandbox": {
                        "url": c.url,
                        "twiml": c.twiml,
                        "digits": c.digits,
                        "created": c.created,  # to the microsecond
                    }
                }
                for c in calls
            ]
        }
    )


async def post_digits(request: web.Request) -> web.Response:
    """Press keys on a call waiting at a <Gather>; answers with the app's next TwiML."""
    sid = request.match_info["sid"]
    data = await _json_object(request)
    digits = data.get("digits")
    if not isinstance(digits, str | int) or not str(digits):
        return _bad("digits must be a non-empty string")
    sandbox = request.app[SANDBOX]
    if sandbox.state.get_call(sid) is None:
        return _bad(f"no call {sid}", 404)
    try:
        status, answer = await sandbox.voice.press(sid, str(digits))
    except CallNotWaiting as exc:
        return _bad(str(exc), 409)
    return web.json_response({"call_sid": sid, "status": status, "twiml": answer})


ANSWERS = ("human", "machine", "no-answer", "busy", "failed")


async def post_call_plan(request: web.Request) -> web.Response:
    """How calls to one number go: {"phone", "answer": human|machine|no-answer|busy|failed,
    "digits"?}; {"phone", "answer": null} forgets the plan."""
    data = await _json_object(request)
    phone = e164(str(data.get("phone") or ""))
    if phone is None:
        return _bad("phone must be a valid phone number")
    answer = data.get("answer")
    if answer is None:
        request.app[SANDBOX].state.plan_call(phone, None)
        return web.json_response({"phone": phone, "plan": None})
    if answer not in ANSWERS:
        return _bad(f"answer must be one of {', '.join(ANSWERS)}")
    plan = {"answer": answer}
    digits = data.get("digits")
    if digits is not None:
        if not isinstance(digits, str):
            return _bad("digits must be a string")
        plan["digits"] = digits
    request.app[SANDBOX].state.plan_call(phone, plan)
    return web.json_response({"phone": phone, "plan": plan})


def _opt_out(sandbox: Any, phone: str, body: str, opt_out_type: str | None) -> None:
    """What Twilio's own opt-out handling does before the app ever sees the message."""
    word = body.strip().strip(".!").upper()
    if opt_out_type == "STOP" or (sandbox.config.auto_opt_out and word in OPT_OUT_WORDS):
        sandbox.state.unsubscribe(phone)
    elif opt_out_type == "START" or (sandbox.config.auto_opt_out and word in OPT_IN_WORDS):
        sandbox.state.resubscribe(phone)


async def post_reply(request: web.Request) -> web.Response:
    """A member texts our number: post Twilio's signed inbound webhook to config.sms_url."""
    sandbox = request.app[SANDBOX]
    config, state = sandbox.config, sandbox.state
    data = await _json_object(request)
    member = e164(str(data.get("from") or ""))
    ours = e164(str(data.get("to") or config.sender_number))
    body = data.get("body")
    opt_out_type = data.get("opt_out_type")
    if member is None:
        return _bad("from must be a valid phone number")
    if ours is None:
        return _bad("to must be a valid phone number")
    if not isinstance(body, str):
        return _bad("body must be a string")
    if opt_out_type is not None and opt_out_type not in OPT_OUT_TYPES:
        return _bad("opt_out_type must be STOP, START or HELP")
    if not config.sms_url:
        return _bad("sms_url is not configured", 409)
    moment = now()
    inbound = Message(
        sid=new_sid("SM"),
        account_sid=config.account_sid,
        to=ours,
        from_=member,
        body=body,
        status=MessageStatus.RECEIVED,
        direction="inbound",
        date_created=moment,
        date_updated=moment,
        date_sent=moment,
        num_segments=num_segments(body),
        messaging_service_sid=config.messaging_service_sid,
    )
    state.add_message(inbound)
    _opt_out(sandbox, member, body, opt_out_type)
    params = inbound_params(inbound, opt_out_type)
    try:
        status, text = await sandbox.dispatcher.post(config.sms_url, params, timeout=VOICE_TIMEOUT,
                                                     inbound=True)  # fmt: skip
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _bad(f"could not reach {config.sms_url}: {exc!r}", 502)
    replies = twiml.replies(text) if status < 300 else []
    for reply in replies:
        state.add_message(
            Message(
                sid=new_sid("SM"),
                account_sid=config.account_sid,
                to=e164(reply.to or "") or member,
                from_=reply.from_ or ours,
                body=reply.body,
                status=MessageStatus.DELIVERED,
                direction="outbound-reply",
                date_created=moment,
                date_updated=moment,
                date_sent=moment,
                num_segments=num_segments(reply.body),
                messaging_service_sid=config.messaging_service_sid,
            )
        )
    return web.json_response(
        {
            "status": status,
            "body": text,
            "message_sid": inbound.sid,
            "replies": [reply.body for reply in replies],
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/sandbox/state", get_state)
    router.add_get("/sandbox/messages", get_messages)
    router.add_post("/sandbox/config", post_config)
    router.add_post("/sandbox/reset", post_reset)
    router.add_post("/sandbox/unsubscribe", post_unsubscribe)
    router.add_get("/sandbox/calls", get_calls)
    router.add_post("/sandbox/calls/plan", post_call_plan)
    router.add_post("/sandbox/calls/{sid}/digits", post_digits)
    router.add_post("/sandbox/reply", post_reply)
