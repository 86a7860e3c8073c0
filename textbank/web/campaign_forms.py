"""Reading the campaign form: the browser's fields into the API's campaign definition."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.datastructures import MultiDict

from textbank.models import Campaign
from textbank.values import in_calendar, whole_number

# The languages a script can be translated into in the form; a campaign's others are kept.
LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "zh": "Chinese",
    "ht": "Haitian Creole",
    "vi": "Vietnamese",
}
TRANSLATABLE = tuple(code for code in LANGUAGES if code != "en")
KEYWORD_ROWS = 4  # blank rows offered beyond the campaign's own keywords
TIME_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "UTC",
)
_SPLIT = re.compile(r"[,;\n]+")


class FormError(ValueError):
    """A field the browser sent that cannot be read; the message names it."""


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in _SPLIT.split(value or "") if part.strip()]


def _percent(form: MultiDict, name: str) -> float | None:
    raw = (form.get(f"goal_{name}") or "").strip().rstrip("%")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise FormError(f"the {name} goal must be a percentage like 50, got {raw!r}") from exc
    return value / 100


def languages_of(campaign: Campaign | None) -> list[str]:
    extra = sorted(set((campaign.translations if campaign else {}) or {}) - set(TRANSLATABLE))
    return [*TRANSLATABLE, *extra]


def definition_from_form(form: MultiDict, languages: list[str]) -> dict:
    """The campaign as POST /api/v1/campaigns takes it, from the form's fields."""
    translations = {
        lang: text
        for lang in languages
        if (text := (form.get(f"translation_{lang}") or "").strip())
    }
    keywords: dict[str, str] = {}
    replies: dict[str, str | dict[str, str]] = {}
    for i in range(whole_number(form.get("keyword_rows") or 0, "keyword_rows", 0, 100)):
        word = (form.get(f"kw_word_{i}") or "").strip()
        outcome = (form.get(f"kw_outcome_{i}") or "").strip()
        if not word and not outcome:
            continue
        if not word:
            raise FormError(f"keyword row {i + 1}: the keyword is empty")
        if not outcome:
            raise FormError(f"keyword {word}: name the outcome it records, like pledged_to_vote")
        keywords[word] = outcome
        by_language = {
            lang: text
            for lang in languages
            if (text := (form.get(f"kw_reply_{lang}_{i}") or "").strip())
        }
        default = (form.get(f"kw_reply_{i}") or "").strip()
        if by_language:
            replies[outcome] = {"en": default, **by_language} if default else by_language
        elif default:
            replies[outcome] = default
    goals = {name: share for name in ("conversation", "action", "activist")
             if (share := _percent(form, name)) is not None}  # fmt: skip
    return {
        "name": form.get("name", ""),
        "kind": form.get("kind", ""),
        "channel": "sms",
        "message": form.get("message", ""),
        "translations": translations,
        "audience": {
            "locals": _list(form.get("locals")),
            "tags": _list(form.get("tags")),
            "statuses": _list(form.get("statuses")),
            "languages": form.getlist("languages"),
            "leaders": form.get("leaders") == "on",
        },
        "keywords": keywords,
        "replies": replies,
        "goals": goals,
    }


def form_from_campaign(campaign: Campaign) -> dict:
    """The form's field values for an existing campaign."""
    values = {
        "name": campaign.name,
        "kind": campaign.kind,
        "message": campaign.message,
        "locals": ", ".join(campaign.audience.get("locals", [])),
        "tags": ", ".join(campaign.audience.get("tags", [])),
        "statuses": ", ".join(campaign.audience.get("statuses", [])),
        "languages": list(campaign.audience.get("languages", [])),
        "leaders": bool(campaign.audience.get("leaders")),
    }
    for lang, text in (campaign.translations or {}).items():
        values[f"translation_{lang}"] = text
    for i, (word, outcome) in enumerate(campaign.keywords.items()):
        values[f"kw_word_{i}"], values[f"kw_outcome_{i}"] = word.upper(), outcome
        reply = campaign.replies.get(outcome)
        if isinstance(reply, dict):
            values[f"kw_reply_{i}"] = reply.get("en", "")
            for lang, text in reply.items():
                values[f"kw_reply_{lang}_{i}"] = text
        elif reply:
            values[f"kw_reply_{i}"] = reply
    for name, share in (campaign.goals or {}).items():
        values[f"goal_{name}"] = f"{share * 100:g}"
    return values


def form_values(form: MultiDict) -> dict:
    """What the manager typed, to show the form again after an error."""
    values: dict = {key: form.get(key) for key in form}
    values["languages"] = form.getlist("languages")
    values["leaders"] = form.get("leaders") == "on"
    return values


_FIELD_OF = re.compile(r"^(name|message|translations\.([a-z]{2,3}(?:-[a-z0-9]+)?))\b")


def field_of(message: str) -> str | None:
    """The form field an API message is about (`name is required` is the name box's)."""
    found = _FIELD_OF.match(message)
    if not found:
        return None
    return f"translation_{found.group(2)}" if found.group(2) else found.group(1)


def launch_time(form: MultiDict) -> datetime:
    """The schedule form's date, time and zone as one aware datetime."""
    raw, zone = (form.get("when") or "").strip(), form.get("timezone") or "America/New_York"
    if not raw:
        raise FormError("pick a date and time for the launch")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FormError(f"time zone: not one we know, {zone!r}") from exc
    try:
        return in_calendar(datetime.fromisoformat(raw).replace(tzinfo=tz), "when")
    except ValueError as exc:  # BadValue too: a year past the calendar's ends
        raise FormError(f"the launch time must be a date and time, got {raw!r}") from exc
