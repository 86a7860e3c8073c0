"""The sender's Twilio transport: its form bodies, and a message through it and the SDK."""

from __future__ import annotations

import asyncio
import random
from urllib.parse import urlencode

from textbank.config import Settings
from textbank.twilio.clients import async_client, form_encode

# Everything quote_plus treats differently: safe marks, reserved marks, space, %, +,
# controls, accents, a non-breaking space, CJK and astral-plane emoji.
ALPHABET = "aZ09_.-~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}\t\n\r\x00\x7féñü\u00a0€中😀🗳️"


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))


def test_form_bodies_match_the_standard_library():
    rng = random.Random(3)
    for _ in range(2000):
        fields = {
            _text(rng) or "Body": _text(rng),
            "MediaUrl": [_text(rng) for _ in range(rng.randint(0, 3))],
            "ValidityPeriod": rng.randint(1, 36000),
            "Attempt": rng.random(),
        }
        assert form_encode(fields) == urlencode(fields, doseq=True), fields


def test_bytes_and_tuples_encode_as_the_standard_library_does():
    fields = {"Raw": b"a b&c\xff", "Tags": ("x y", "z&w")}
    assert form_encode(fields) == urlencode(fields, doseq=True)


def test_a_message_body_arrives_as_written(sandbox, tmp_path):
    body = "Hola Nuñez! 50% off? A+B=C & more: https://x.org/?a=1&b=2 🗳️ 中"
    settings = Settings.from_env(
        {"TEXTBANK_ENV": "test", "TWILIO_API_URL": sandbox.url}, instance_path=str(tmp_path)
    )

    async def send():
        client = async_client(settings)
        try:
            return await client.messages.create_async(
                to="+12125550143", from_="+15005550006", body=body,
                status_callback="http://127.0.0.1:9/twilio/sms/status?m=7&x=%20",
            )  # fmt: skip
        finally:
            await client.http_client.close()

    message = asyncio.run(send())
    assert message.body == body
    stored = sandbox.state.get_message(message.sid)
    assert stored.body == body
    assert stored.status_callback == "http://127.0.0.1:9/twilio/sms/status?m=7&x=%20"
