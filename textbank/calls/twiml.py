"""TwiML for a voice campaign's call: the script and menu, the voicemail, the answers to keys."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from textbank.calls.script import voice_for

GATHER_TIMEOUT = 6  # seconds of silence after the script before the menu gives up

# What the app itself says, per language; English where a language has no entry.
PHRASES = {
    "en": {
        "thanks": "Thank you! We have recorded your answer.",
        "connecting": "Thank you! Connecting you now.",
        "opted_out": "You will not get any more calls from {org}. Goodbye.",
        "opted_out_all": "You will not get any more calls or texts from {org}. Goodbye.",
        "goodbye": "Goodbye.",
    },
    "es": {
        "thanks": "¡Gracias! Hemos registrado su respuesta.",
        "connecting": "¡Gracias! Le estamos conectando.",
        "opted_out": "No recibirá más llamadas de {org}. Adiós.",
        "opted_out_all": "No recibirá más llamadas ni mensajes de {org}. Adiós.",
        "goodbye": "Adiós.",
    },
}


def phrase(language: str, key: str, **values: str) -> str:
    return (PHRASES.get(language) or PHRASES["en"])[key].format(**values)


def _speak(target, text: str, voice: Mapping, language: str, audio_url: str | None) -> None:
    if audio_url:
        target.play(audio_url)
        return
    name, tag = voice_for(voice, language)
    target.say(text, voice=name, language=tag) if tag else target.say(text, voice=name)


def _xml(response: VoiceResponse) -> str:
    return str(response)


def person(
    script: str, voice: Mapping, language: str, menu_url: str, audio_url: str | None = None
) -> str:
    """A person answered: the script inside a one-key <Gather>, played twice at most."""
    response = VoiceResponse()
    for _ in range(2):  # no key after the first time: once more, then goodbye
        gather = Gather(num_digits=1, action=menu_url, method="POST", timeout=GATHER_TIMEOUT)
        _speak(gather, script, voice, language, audio_url)
        response.append(gather)
    _speak(response, phrase(language, "goodbye"), voice, language, None)
    response.hangup()
    return _xml(response)


def voicemail(text: str, voice: Mapping, language: str, audio_url: str | None = None) -> str:
    """A machine answered: the request comes after the beep, so speak at once, then hang up."""
    response = VoiceResponse()
    _speak(response, text, voice, language, audio_url)
    response.hangup()
    return _xml(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return _xml(response)


def recorded(voice: Mapping, language: str, connect: str | None, caller_id: str | None) -> str:
    """A menu key recorded: thanks, and the call connected on when the choice says so."""
    response = VoiceResponse()
    if connect:
        _speak(response, phrase(language, "connecting"), voice, language, None)
        dial = Dial(caller_id=caller_id) if caller_id else Dial()
        dial.number(connect)
        response.append(dial)
    else:
        _speak(response, phrase(language, "thanks"), voice, language, None)
        response.hangup()
    return _xml(response)


def opted_out(voice: Mapping, language: str, texts_too: bool) -> str:
    """Pressed 9: the spoken confirmation, then the call ends at once."""
    response = VoiceResponse()
    key = "opted_out_all" if texts_too else "opted_out"
    _speak(response, phrase(language, key, org=voice.get("org_name", "")), voice, language, None)
    response.hangup()
    return _xml(response)
