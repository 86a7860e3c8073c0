"""A voice campaign's script, menu, voicemail and retry policy, checked before it is saved."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from textbank.members.fields import FieldError, normalize_language
from textbank.models import VOLUNTEER_OUTCOME

OPT_OUT_DIGIT = "9"
MENU_DIGITS = tuple("12345678")
_OUTCOME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VOICE_RE = re.compile(r"^(Polly|Google)\.[A-Za-z0-9_.-]{1,60}$|^(alice|man|woman)$")
_PHONE_RE = re.compile(r"\+?\d[\d\s().-]{7,}\d")
_SENTENCE_END = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+")  # and CJK full stops

# Amazon Polly voices (through <Say voice="Polly.…">) and the language tag each speaks.
DEFAULT_VOICES = {
    "en": ("Polly.Joanna", "en-US"),
    "es": ("Polly.Lupe", "es-US"),
    "fr": ("Polly.Lea", "fr-FR"),
    "pt": ("Polly.Camila", "pt-BR"),
    "zh": ("Polly.Zhiyu", "cmn-CN"),
    "ko": ("Polly.Seoyeon", "ko-KR"),
    "ar": ("Polly.Zeina", "arb"),
    "ru": ("Polly.Tatyana", "ru-RU"),
    "pl": ("Polly.Ewa", "pl-PL"),
    "it": ("Polly.Carla", "it-IT"),
    "de": ("Polly.Marlene", "de-DE"),
    "ja": ("Polly.Mizuki", "ja-JP"),
    "hi": ("Polly.Aditi", "hi-IN"),
}
DEFAULT_RETRY = {"attempts": 3, "spacing_minutes": 60}
DEFAULT_RING_SECONDS = 25


class ScriptError(ValueError):
    """A voice campaign that breaks the rules for prerecorded calls, or is malformed."""


@dataclass(frozen=True)
class MenuChoice:
    outcome: str
    connect: str | None = None  # a number to connect the member to, e.g. the local's hall


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _has_phone(text: str) -> bool:
    return any(len(re.sub(r"\D", "", m)) >= 10 for m in _PHONE_RE.findall(text))


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def check_spoken(text: str, field: str, org_name: str, *, offers_menu: bool) -> None:
    """The rules for prerecorded calls (47 CFR 64.1200(b)), in words a manager can act on.

    The organization is named at the start, the press-9 opt-out is offered right after
    (within the first two sentences), and a call-back number comes at the end.
    """
    sentences = _sentences(text)
    if not sentences:
        raise ScriptError(f"{field} is empty")
    if _fold(org_name) not in _fold(sentences[0]):
        raise ScriptError(
            f"{field} must start by naming the organization: its first sentence must say "
            f'"{org_name}" (e.g. "This is {org_name} calling.")'
        )
    if offers_menu and not any(OPT_OUT_DIGIT in s for s in sentences[:2]):
        raise ScriptError(
            f"{field} must offer the opt-out early: its first two sentences must say "
            '"press 9" (e.g. "To stop these calls, press 9.")'
        )
    if not _has_phone(sentences[-1]):
        raise ScriptError(
            f"{field} must end with a call-back number: its last sentence must give a "
            'phone number (e.g. "Call us back at 617-555-0100.")'
        )


def _menu(value: object) -> dict[str, dict]:
    if not isinstance(value, Mapping) or not value:
        raise ScriptError('voice.menu is required, e.g. {"1": "volunteer"}')
    menu: dict[str, dict] = {}
    for digit, choice in value.items():
        key = str(digit)
        if key == OPT_OUT_DIGIT:
            raise ScriptError("voice.menu: 9 is always the opt-out; choose another key")
        if key not in MENU_DIGITS:
            raise ScriptError(f"voice.menu: keys are single digits 1-8, got {digit!r}")
        if isinstance(choice, str):
            choice = {"outcome": choice}
        if not isinstance(choice, Mapping):
            raise ScriptError(f'voice.menu.{key} must be an outcome name or {{"outcome": ...}}')
        outcome = choice.get("outcome")
        if not isinstance(outcome, str) or not _OUTCOME_RE.match(outcome):
            raise ScriptError(
                f"voice.menu.{key}: the outcome must be a name like pledged_to_vote, "
                f"got {outcome!r}"
            )
        entry: dict = {"outcome": outcome}
        connect = choice.get("connect")
        if connect is not None:
            if not isinstance(connect, str) or not _has_phone(connect):
                raise ScriptError(f"voice.menu.{key}.connect must be a phone number")
            entry["connect"] = "+" + re.sub(r"\D", "", connect).removeprefix("+")
            if len(entry["connect"]) == 11:  # ten digits: a US number
                entry["connect"] = "+1" + entry["connect"][1:]
        menu[key] = entry
    if "1" not in menu:
        raise ScriptError("voice.menu must give key 1 an outcome, e.g. volunteer")
    return menu


def _int_in(value: object, field: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScriptError(f"{field} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _per_language(value: object, field: str, default_language: str = "en") -> dict[str, str]:
    if isinstance(value, str):
        return {default_language: value}
    if not isinstance(value, Mapping) or not value:
        raise ScriptError(f'{field} is required: the text, or {{"en": ..., "es": ...}}')
    out = {}
    for lang, text in value.items():
        try:
            code = normalize_language(lang)
        except FieldError as exc:
            raise ScriptError(f"{field}: {exc}") from exc
        if not isinstance(text, str) or not text.strip():
            raise ScriptError(f"{field}.{code} must be text")
        out[code] = text
    return out


def validate_voice(data: object, scripts: Mapping[str, str], org_name: str) -> dict:
    """Check a voice campaign's `voice` object and its scripts (language -> text).

    `scripts` has "" for the default script (the campaign's message) and one entry per
    translation. Returns the normalised `voice` object to store.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ScriptError("voice must be an object with menu, voicemail and retry")
    org = data.get("org_name", org_name)
    if not isinstance(org, str) or not org.strip():
        raise ScriptError("voice.org_name must be the organization's name")
    org = org.strip()
    for lang, text in scripts.items():
        field = "message" if lang == "" else f"translations.{lang}"
        check_spoken(text, field, org, offers_menu=True)
    menu = _menu(data.get("menu"))
    voicemail = _per_language(data.get("voicemail"), "voice.voicemail")
    for lang, text in voicemail.items():
        check_spoken(text, f"voice.voicemail.{lang}", org, offers_menu=False)
    voices = {}
    raw_voices = data.get("voices") or {}
    if not isinstance(raw_voices, Mapping):
        raise ScriptError('voice.voices must map languages to voices, e.g. {"es": "Polly.Lupe"}')
    for lang, name in raw_voices.items():
        code = normalize_language(lang)
        if not isinstance(name, str) or not _VOICE_RE.match(name):
            raise ScriptError(f"voice.voices.{code} must be a voice like Polly.Lupe, got {name!r}")
        voices[code] = name
    languages = {lang for lang in scripts if lang} | set(voicemail)
    for lang in sorted(languages):
        if lang not in voices and lang not in DEFAULT_VOICES:
            raise ScriptError(
                f"no text-to-speech voice for language {lang}: give voice.voices.{lang} "
                "(an Amazon Polly voice such as Polly.Lupe)"
            )
    retry = data.get("retry") or {}
    if not isinstance(retry, Mapping):
        raise ScriptError('voice.retry must be {"attempts": n, "spacing_minutes": m}')
    return {
        "org_name": org,
        "menu": menu,
        "voicemail": voicemail,
        "voices": voices,
        "retry": {
            "attempts": _int_in(
                retry.get("attempts"), "voice.retry.attempts", 1, 5, DEFAULT_RETRY["attempts"]
            ),
            "spacing_minutes": _int_in(
                retry.get("spacing_minutes"),
                "voice.retry.spacing_minutes",
                1,
                24 * 60,
                DEFAULT_RETRY["spacing_minutes"],
            ),
        },
        "ring_seconds": _int_in(
            data.get("ring_seconds"), "voice.ring_seconds", 5, 60, DEFAULT_RING_SECONDS
        ),
    }


def menu_choice(voice: Mapping, digit: str) -> MenuChoice | None:
    entry = (voice.get("menu") or {}).get(digit)
    return MenuChoice(entry["outcome"], entry.get("connect")) if entry else None


def voice_for(voice: Mapping, language: str) -> tuple[str, str | None]:
    """The <Say> voice and language tag for a language (English's when it has none)."""
    named = (voice.get("voices") or {}).get(language)
    default = DEFAULT_VOICES.get(language)
    if named:
        return named, default[1] if default else None
    return default or DEFAULT_VOICES["en"]


def is_volunteer(outcome: str) -> bool:
    return outcome == VOLUNTEER_OUTCOME
