"""The sandbox carrier, driven through the real twilio SDK like the app drives Twilio."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
import requests
from click.testing import CliRunner
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from textbank.cli.sandbox import sandbox_command
from textbank.config import Settings
from textbank.sandbox import SandboxConfig
from textbank.sandbox.resources import num_segments
from textbank.twilio.clients import async_client, rest_client

MEMBER = "+16175550123"
OTHER = "+16175550124"
SENDER = "+16175550100"
TOKEN = "sandbox-auth-token"
ERROR_CODES = {"30003", "30005", "30006", "30007"}


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops bursts of callbacks into 1 s SYN retries


class Receiver:
    """A stand-in for the app's webhooks: records every request, answers from `routes`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.routes: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "url": receiver.url + self.path,
                            "params": params,
                            "signature": self.headers.get("X-Twilio-Signature", ""),
                        }
                    )
                status, body = receiver.routes.get(self.path, (200, ""))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml" if body else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = _Listener(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def at(self, path: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def settings_for(server, tmp_path, **env: str) -> Settings:
    environ = {"TEXTBANK_ENV": "test", "TWILIO_API_URL": server.url, **env}
    return Settings.from_env(environ, instance_path=str(tmp_path))


@pytest.fixture
def twilio(sandbox, tmp_path):
    return rest_client(settings_for(sandbox, tmp_path), timeout=5)


def send(client, to: str = MEMBER, **extra: str):
    return client.messages.create(to=to, from_=SENDER, body="Vote Tuesday!", **extra)


def assert_signed(request: dict) -> None:
    validator = RequestValidator(TOKEN)
    assert validator.validate(request["url"], request["params"], request["signature"])


# -- REST ------------------------------------------------------------------------------------


def test_create_and_fetch_answer_twilio_shaped_messages(twilio):
    message = send(twilio)
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.sid[2:] == message.sid[2:].lower()
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.to == MEMBER and message.from_ == SENDER
    assert message.num_segments == "1" and message.num_media == "0"
    assert message.price is None and message.error_code is None
    assert message.api_version == "2010-04-01"
    assert message.uri.endswith(f"/Messages/{message.sid}.json")
    assert message.date_created.tzinfo is not None

    fetched = twilio.messages(message.sid).fetch()
    assert fetched.sid == message.sid and fetched.body == "Vote Tuesday!"

    with pytest.raises(TwilioRestException) as missing:
        twilio.messages("SM" + "f" * 32).fetch()
    assert missing.value.status == 404 and missing.value.code == 20404


def test_messaging_service_sends_are_accepted(twilio):
    message = twilio.messages.create(to=MEMBER, messaging_service_sid="MG" + "1" * 32, body="Hi")
    assert message.status == "accepted"
    assert message.messaging_service_sid == "MG" + "1" * 32


def test_list_filters_by_to_and_date_across_pages(sandbox, twilio):
    before = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(120):
        twilio.messages.create(to=MEMBER, from_=SENDER, body=f"text {i}")
    send(twilio, to=OTHER)

    listed = twilio.messages.list(to=MEMBER, page_size=50)
    assert len(listed) == 120
    assert len({m.sid for m in listed}) == 120
    assert [m.body for m in listed[:2]] == ["text 119", "text 118"]  # newest first

    assert len(twilio.messages.list(to=MEMBER, date_sent_after=before, page_size=50)) == 120
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert twilio.messages.list(to=MEMBER, date_sent_after=later) == []
    assert len(twilio.messages.list(to=MEMBER, date_sent_before=later, page_size=50)) == 120
    assert len(twilio.messages.list(date_sent=datetime.now(UTC), page_size=1000)) == 121
    assert len(twilio.messages.list(page_size=50)) == 121

    page = twilio.messages.page(to=MEMBER, page_size=50)
    assert len(list(page)) == 50 and page.next_page_url is not None
    assert page.previous_page_url is None
    last = page.next_page().next_page()
    assert len(list(last)) == 20 and last.next_page_url is None


def test_list_accepts_raw_date_bounds(sandbox):
    auth = ("AC" + "0" * 32, TOKEN)
    url = f"{sandbox.url}/2010-04-01/Accounts/{auth[0]}/Messages.json"
    body = {"To": MEMBER, "From": SENDER, "Body": "hi"}
    assert requests.post(url, data=body, auth=auth, timeout=5).status_code == 201
    today = datetime.now(UTC).date().isoformat()
    for query in (f"DateSent>={today}", f"DateSent<={today}", f"DateSent={today}"):
        page = requests.get(f"{url}?{query}", auth=auth, timeout=5).json()
        assert len(page["messages"]) == 1, query
        assert page["next_page_uri"] is None and page["page_size"] == 50
    bad = requests.get(f"{url}?DateSent>=soon", auth=auth, timeout=5)
    assert bad.status_code == 400 and bad.json()["status"] == 400


def test_wrong_credentials_are_refused(sandbox, tmp_path):
    wrong = settings_for(
        sandbox,
        tmp_path,
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="not-the-token",
    )
    with pytest.raises(TwilioRestException) as refused:
        send(rest_client(wrong, timeout=5))
    assert refused.value.status == 401 and refused.value.code == 20003

    bad_token = settings_for(
        sandbox, tmp_path, TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="nope"
    )
    with pytest.raises(TwilioRestException) as refused:
        rest_client(bad_token, timeout=5).messages("SM" + "0" * 32).fetch()
    assert refused.value.status == 401 and refused.value.code == 20003
    assert sandbox.state.counts()["messages"] == 0


def test_invalid_unsubscribed_and_incomplete_sends_fail_like_twilio(sandbox, twilio):
    with pytest.raises(TwilioRestException) as invalid:
        send(twilio, to="+1555")
    assert invalid.value.status == 400 and invalid.value.code == 21211
    assert "+1555" in invalid.value.msg

    answer = requests.post(f"{sandbox.url}/sandbox/unsubscribe", json={"phone": MEMBER}, timeout=5)
    assert answer.json() == {"unsubscribed": MEMBER}
    with pytest.raises(TwilioRestException) as unsubscribed:
        send(twilio)
    assert unsubscribed.value.code == 21610

    with pytest.raises(TwilioRestException) as no_body:
        twilio.messages.create(to=OTHER, from_=SENDER)
    assert no_body.value.code == 21602
    with pytest.raises(TwilioRestException) as no_sender:
        twilio.messages.create(to=OTHER, body="hi")
    assert no_sender.value.code == 21603
    with pytest.raises(TwilioRestException) as bad_sender:
        twilio.messages.create(to=OTHER, from_="+1555", body="hi")
    assert bad_sender.value.code == 21212
    assert sandbox.state.counts()["messages"] == 0


def test_segments_follow_gsm7_and_ucs2():
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("{" * 80) == 1 and num_segments("{" * 81) == 2
    assert num_segments("ñ" * 160) == 1  # ñ is in GSM-7
    assert num_segments("ó" * 70) == 1 and num_segments("ó" * 71) == 2
    assert num_segments("🗳" * 35) == 1 and num_segments("🗳" * 36) == 2


# -- status callbacks ------------------------------------------------------------------------


def test_status_callbacks_are_signed_and_ordered(sandbox, twilio, receiver):
    callback = receiver.url + "/status?id=7"
    messages = [send(twilio, status_callback=callback) for _ in range(5)]
    wait_until(lambda: len(receiver.at("/status?id=7")) == 10)
    for message in messages:
        got = [r for r in receiver.requests if r["params"]["MessageSid"] == message.sid]
        assert [r["params"]["MessageStatus"] for r in got] == ["sent", "delivered"]
        for request in got:
            assert_signed(request)
            params = request["params"]
            assert (
                params["SmsSid"] == message.sid and params["SmsStatus"] == params["MessageStatus"]
            )
            assert params["To"] == MEMBER and params["From"] == SENDER
            assert params["AccountSid"] == "AC" + "0" * 32 and params["ApiVersion"] == "2010-04-01"
            assert "ErrorCode" not in params
    wait_until(lambda: sandbox.state.counts()["by_status"] == {"delivered": 5})
    assert twilio.messages(messages[0].sid).fetch().status == "delivered"


def test_failed_share_reports_error_codes(sandbox, twilio, receiver):
    sandbox.configure(failed_rate=0.5, undelivered_rate=0.5, random_seed=7)
    messages = [send(twilio, status_callback=receiver.url + "/status") for _ in range(20)]

    def finished() -> dict[str, int] | None:
        by_status = sandbox.state.counts()["by_status"]
        done = by_status.get("failed", 0) + by_status.get("undelivered", 0) == 20
        return by_status if done else None

    by_status = wait_until(finished)
    # A failed message gets one callback; an undelivered one "sent" first.
    expected = by_status.get("failed", 0) + 2 * by_status.get("undelivered", 0)
    wait_until(lambda: len(receiver.at("/status")) == expected)
    finals = [r["params"] for r in receiver.at("/status") if r["params"]["MessageStatus"] != "sent"]
    assert {p["MessageStatus"] for p in finals} == {"failed", "undelivered"}
    assert all(p["ErrorCode"] in ERROR_CODES for p in finals)
    for message in messages:
        stored = twilio.messages(message.sid).fetch()
        assert stored.status in ("failed", "undelivered")
        assert str(stored.error_code) in ERROR_CODES


def test_duplicate_and_reordered_callbacks(sandbox, twilio, receiver):
    sandbox.configure(duplicate_callback_rate=1.0, reorder_callbacks=1.0)
    message = send(twilio, status_callback=receiver.url + "/status")
    wait_until(lambda: len(receiver.at("/status")) == 4)
    statuses = [r["params"]["MessageStatus"] for r in receiver.at("/status")]
    assert statuses == ["delivered", "delivered", "sent", "sent"]
    assert twilio.messages(message.sid).fetch().status == "delivered"


def test_failing_callback_receiver_is_retried_then_dropped(sandbox, twilio, receiver):
    receiver.routes["/broken"] = (503, "")
    send(twilio, status_callback=receiver.url + "/broken")
    wait_until(lambda: sandbox.state.requests().get("callbacks_dropped") == 2, timeout=10)
    assert len(receiver.at("/broken")) == 6  # two callbacks, each tried three times


# -- injected faults -------------------------------------------------------------------------


def test_server_errors_and_rate_limits(sandbox, twilio, receiver):
    sandbox.configure(error_500_rate=1.0)
    with pytest.raises(TwilioRestException) as failed:
        send(twilio)
    assert failed.value.status == 500 and failed.value.code == 20500
    sandbox.configure(error_500_rate=0.0, error_429_rate=1.0)
    with pytest.raises(TwilioRestException) as limited:
        send(twilio)
    assert limited.value.status == 429 and limited.value.code == 20429
    sandbox.configure(error_429_rate=0.0)
    assert twilio.messages.list(to=MEMBER) == []  # neither fault stored anything

    sandbox.configure(error_500_rate=1.0, fault_commits=True)
    with pytest.raises(TwilioRestException) as lost:
        send(twilio, status_callback=receiver.url + "/status")
    assert lost.value.status == 500
    # The lost-response case: stored, and reported on before the 500 went out.
    assert [r["params"]["MessageStatus"] for r in receiver.at("/status")] == ["sent", "delivered"]
    sandbox.configure(error_500_rate=0.0)
    (listed,) = twilio.messages.list(to=MEMBER)
    assert listed.sid == receiver.at("/status")[0]["params"]["MessageSid"]

    state = requests.get(f"{sandbox.url}/sandbox/state", timeout=5).json()
    assert state["requests"]["create"] == 3
    assert state["requests"]["errors_500"] == 2 and state["requests"]["errors_429"] == 1


def test_timeouts_store_the_message(sandbox, tmp_path):
    sandbox.configure(timeout_rate=1.0, timeout_seconds=1.5)
    impatient = rest_client(settings_for(sandbox, tmp_path), timeout=0.5)
    with pytest.raises((requests.exceptions.Timeout, requests.exceptions.ConnectionError)):
        send(impatient)
    sandbox.configure(timeout_rate=0.0)
    assert len(impatient.messages.list(to=MEMBER)) == 1
    assert sandbox.state.requests()["timeouts"] == 1


def test_fault_shares_follow_the_seed(sandbox, twilio):
    def outcomes() -> list[int]:
        sandbox.configure(error_500_rate=0.3, error_429_rate=0.3, random_seed=42)
        codes = []
        for _ in range(30):
            try:
                send(twilio)
                codes.append(201)
            except TwilioRestException as exc:
                codes.append(exc.status)
        return codes

    first = outcomes()
    assert outcomes() == first
    assert {201, 429, 500} == set(first)


def test_latency_is_injected(sandbox, twilio):
    sandbox.configure(latency_ms=200)
    started = time.monotonic()
    twilio.messages.list(to=MEMBER)
    assert time.monotonic() - started >= 0.2


# -- members replying, calls -----------------------------------------------------------------


def test_reply_posts_a_signed_inbound_message(sandbox, twilio, receiver):
    thanks = "<?xml version='1.0'?><Response><Message>Thank you!</Message></Response>"
    receiver.routes["/twilio/sms"] = (200, thanks)
    sandbox.configure(sms_url=receiver.url + "/twilio/sms")
    answer = requests.post(
        f"{sandbox.url}/sandbox/reply", json={"from": MEMBER, "body": "YES"}, timeout=5
    ).json()
    assert answer["status"] == 200 and answer["body"] == thanks
    assert answer["replies"] == ["Thank you!"]

    (inbound,) = receiver.at("/twilio/sms")
    assert_signed(inbound)
    params = inbound["params"]
    assert params["MessageSid"] == answer["message_sid"] == params["SmsSid"]
    assert params["SmsMessageSid"] == answer["message_sid"]
    assert (params["From"], params["To"], params["Body"]) == (MEMBER, "+15005550006", "YES")
    assert params["NumMedia"] == "0" and params["NumSegments"] == "1"
    assert params["FromCountry"] == "US" and "OptOutType" not in params

    directions = [m.direction for m in sandbox.state.all_messages()]
    assert directions == ["inbound", "outbound-reply"]
    (reply,) = sandbox.state.messages_to(MEMBER)
    assert reply.body == "Thank you!" and reply.from_ == "+15005550006"


def test_stop_reply_unsubscribes_like_twilio(sandbox, twilio, receiver):
    sandbox.configure(sms_url=receiver.url + "/twilio/sms")
    stop = {"from": MEMBER, "body": "stop", "opt_out_type": "STOP"}
    requests.post(f"{sandbox.url}/sandbox/reply", json=stop, timeout=5)
    assert receiver.at("/twilio/sms")[0]["params"]["OptOutType"] == "STOP"
    with pytest.raises(TwilioRestException) as refused:
        send(twilio)
    assert refused.value.code == 21610
    requests.post(f"{sandbox.url}/sandbox/reply", json={"from": MEMBER, "body": "START"}, timeout=5)
    assert send(twilio).status == "queued"


def test_reply_needs_an_sms_url(sandbox):
    answer = requests.post(
        f"{sandbox.url}/sandbox/reply", json={"from": MEMBER, "body": "hi"}, timeout=5
    )
    assert answer.status_code == 409 and "sms_url" in answer.json()["error"]


def test_call_fetches_twiml_takes_digits_and_completes(sandbox, twilio, receiver):
    menu = (
        '<Response><Gather action="/voice/gather" numDigits="1">'
        "<Say>Press 1</Say></Gather></Response>"
    )
    receiver.routes["/voice"] = (200, menu)
    receiver.routes["/voice/gather"] = (200, "<Response><Say>Thank you</Say></Response>")
    call = twilio.calls.create(
        to=MEMBER,
        from_=SENDER,
        url=receiver.url + "/voice",
        status_callback=receiver.url + "/voice/status",
    )
    assert call.sid.startswith("CA") and call.status == "queued"
    wait_until(lambda: sandbox.state.get_call(call.sid).twiml)
    (answer,) = receiver.at("/voice")
    assert_signed(answer)
    assert answer["params"]["CallStatus"] == "in-progress"
    assert answer["params"]["Direction"] == "outbound-api"

    pressed = requests.post(
        f"{sandbox.url}/sandbox/calls/{call.sid}/digits", json={"digits": "1"}, timeout=5
    ).json()
    assert pressed["twiml"] == "<Response><Say>Thank you</Say></Response>"
    (gathered,) = receiver.at("/voice/gather")
    assert_signed(gathered)
    assert gathered["params"]["Digits"] == "1" and gathered["params"]["CallSid"] == call.sid

    (status,) = wait_until(lambda: receiver.at("/voice/status"))
    assert_signed(status)
    assert status["params"]["CallStatus"] == "completed"
    assert int(status["params"]["CallDuration"]) >= 1
    calls = requests.get(f"{sandbox.url}/sandbox/calls", timeout=5).json()["calls"]
    assert calls[0]["status"] == "completed" and calls[0]["sandbox"]["digits"] == ["1"]
    again = requests.post(
        f"{sandbox.url}/sandbox/calls/{call.sid}/digits", json={"digits": "2"}, timeout=5
    )
    assert again.status_code == 409


# -- async SDK, control routes, CLI ----------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's aiohttp auth
def test_async_client_sends_concurrently(sandbox, tmp_path):
    settings = settings_for(sandbox, tmp_path)

    async def blast() -> list:
        client = async_client(settings, timeout=10)
        try:
            return await asyncio.gather(
                *(
                    client.messages.create_async(to=f"+1617555{i:04d}", from_=SENDER, body="hi")
                    for i in range(200)
                )
            )
        finally:
            await client.http_client.close()

    sent = asyncio.run(blast())
    assert len({m.sid for m in sent}) == 200
    assert sandbox.state.counts()["messages"] == 200


def test_control_routes(sandbox, twilio):
    send(twilio)
    base = sandbox.url
    listed = requests.get(f"{base}/sandbox/messages", params={"to": MEMBER}, timeout=5).json()
    assert [m["to"] for m in listed["messages"]] == [MEMBER]
    state = requests.get(f"{base}/sandbox/state", timeout=5).json()
    assert state["messages"] == 1 and state["config"]["latency_ms"] == 0

    changed = requests.post(f"{base}/sandbox/config", json={"latency_ms": 5}, timeout=5)
    assert changed.json()["config"]["latency_ms"] == 5 and sandbox.config.latency_ms == 5
    unknown = requests.post(f"{base}/sandbox/config", json={"latency": 5}, timeout=5)
    assert unknown.status_code == 400 and "latency" in unknown.json()["error"]
    bad = requests.post(f"{base}/sandbox/config", json={"failed_rate": 2}, timeout=5)
    assert bad.status_code == 400 and "failed_rate" in bad.json()["error"]

    requests.post(f"{base}/sandbox/reset", timeout=5)
    assert sandbox.state.counts() == {"messages": 0, "by_status": {}}


def test_config_update_is_all_or_nothing():
    config = SandboxConfig()
    with pytest.raises(ValueError, match="timeout_rate"):
        config.update({"latency_ms": 10, "timeout_rate": "often"})
    assert config.latency_ms == 0
    with pytest.raises(ValueError, match="sms_url"):
        config.update({"sms_url": "ftp://x"})
    assert config.update({"reorder_callbacks": True}) == {"reorder_callbacks": 1.0}


def test_cli_offers_the_options():
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--port", "--latency-ms", "--error-500-rate", "--no-callbacks", "--sms-url"):
        assert option in result.output
