"""Voice scripts: the API refuses what breaks the prerecorded-call rules; the TwiML per answer."""

from __future__ import annotations

import pytest
from blast_helpers import seed
from voice_helpers import SCRIPT, SCRIPT_ES, VOICEMAIL, voice_campaign

from textbank.calls import twiml
from textbank.calls.script import ScriptError, validate_voice

VOICE = validate_voice(
    {"menu": {"1": "volunteer", "2": {"outcome": "pledged_to_vote", "connect": "617-555-0199"}},
     "voicemail": VOICEMAIL, "voices": {"es": "Polly.Mia"}},
    {"": SCRIPT, "es": SCRIPT_ES}, "textbank",
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"message": "Hi there. This is textbank. Press 9 to stop. Call 617-555-0100."},
         "message must start by naming the organization"),
        ({"message": "This is textbank. We need you. Really. Press 9 to stop. Call 617-555-0100."},
         'message must offer the opt-out early: its first two sentences must say "press 9"'),
        ({"message": "This is textbank. Press 9 to stop calls. Press 1 to volunteer."},
         "message must end with a call-back number"),
        ({"translations": {"es": "Hola. Oprima 9. Llame al 617-555-0100."}},
         "translations.es must start by naming the organization"),
        ({"voice": {"menu": {"1": "volunteer"}, "voicemail": "This is textbank. Bye."}},
         "voice.voicemail.en must end with a call-back number"),
        ({"voice": {"menu": {"9": "volunteer"}, "voicemail": VOICEMAIL}},
         "voice.menu: 9 is always the opt-out"),
        ({"voice": {"voicemail": VOICEMAIL}}, "voice.menu is required"),
        ({"voice": {"menu": {"1": "volunteer"}}}, "voice.voicemail is required"),
        ({"translations": {"vi": "textbank gọi. Nhấn 9 để ngừng. Gọi 617-555-0100."}},
         "no text-to-speech voice for language vi"),
        ({"voice": {"menu": {"1": "volunteer"}, "voicemail": VOICEMAIL,
                    "retry": {"attempts": 9}}},
         "voice.retry.attempts must be a whole number from 1 to 5"),
    ],
)  # fmt: skip
def test_api_refuses_a_voice_script_that_breaks_the_rules(client, auth, sessions, change,
                                                           expected):  # fmt: skip
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    response = client.post("/api/v1/campaigns", headers=auth, json=voice_campaign(**change))
    assert response.status_code == 400
    assert expected in response.get_json()["error"]


def test_api_accepts_a_compliant_voice_campaign(client, auth, sessions):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    response = client.post("/api/v1/campaigns", headers=auth, json=voice_campaign())
    assert response.status_code == 201
    voice = response.get_json()["voice"]
    assert voice["menu"] == {"1": {"outcome": "volunteer"}}
    assert voice["retry"] == {"attempts": 2, "spacing_minutes": 30}
    sms = client.post("/api/v1/campaigns", headers=auth,
                      json={**voice_campaign(), "channel": "sms"})  # fmt: skip
    assert sms.status_code == 400 and "voice is only for" in sms.get_json()["error"]


def test_org_name_comes_from_the_setting_or_the_campaign():
    with pytest.raises(ScriptError, match='must say "Local 1199 SEIU"'):
        validate_voice({"menu": {"1": "volunteer"}, "voicemail": VOICEMAIL}, {"": SCRIPT},
                       "Local 1199 SEIU")  # fmt: skip
    named = validate_voice({"menu": {"1": "volunteer"}, "voicemail": VOICEMAIL,
                            "org_name": "textbank"}, {"": SCRIPT}, "Local 1199 SEIU")  # fmt: skip
    assert named["org_name"] == "textbank"


def test_person_hears_the_script_in_their_language_inside_a_gather():
    english = twiml.person("This is textbank. Press 9.", VOICE, "en", "https://x/menu")
    assert '<Gather action="https://x/menu" method="POST" numDigits="1" timeout="6">' in english
    assert '<Say language="en-US" voice="Polly.Joanna">This is textbank. Press 9.</Say>' in english
    assert english.count("<Gather") == 2 and english.endswith("<Hangup /></Response>")
    spanish = twiml.person("Le llama textbank.", VOICE, "es", "https://x/menu")
    assert 'voice="Polly.Mia"' in spanish and 'language="es-US"' in spanish
    assert "Adiós." in spanish
    recorded = twiml.person("unused", VOICE, "en", "https://x/menu", "https://x/rec/abc")
    assert "<Play>https://x/rec/abc</Play>" in recorded and "<Say" in recorded  # goodbye


def test_machine_hears_the_voicemail_then_the_call_ends():
    message = twiml.voicemail(VOICEMAIL, VOICE, "en")
    assert message == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US" '
        f'voice="Polly.Joanna">{VOICEMAIL}</Say><Hangup /></Response>'
    )
    assert "<Gather" not in message


def test_keys_answer_thanks_a_connection_or_the_opt_out():
    thanks = twiml.recorded(VOICE, "en", None, "+15005550006")
    assert "We have recorded your answer" in thanks and "<Hangup" in thanks
    connect = twiml.recorded(VOICE, "es", "+16175550199", "+15005550006")
    assert '<Dial callerId="+15005550006"><Number>+16175550199</Number></Dial>' in connect
    assert "Le estamos conectando" in connect
    stop = twiml.opted_out(VOICE, "en", texts_too=True)
    assert "You will not get any more calls or texts from textbank. Goodbye." in stop
    assert "<Hangup" in stop
    calls_only = twiml.opted_out(VOICE, "es", texts_too=False)
    assert "No recibirá más llamadas de textbank" in calls_only and "mensajes" not in calls_only


def test_menu_connect_numbers_are_normalised():
    assert VOICE["menu"]["2"] == {"outcome": "pledged_to_vote", "connect": "+16175550199"}
