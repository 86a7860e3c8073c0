"""A campaign's console settings: mode, canned responses, survey, batch size, reclaim time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from textbank.campaigns.rendering import TemplateError, check_template
from textbank.members.fields import FieldError, normalize_language
from textbank.models import Campaign, CampaignMode

OUTCOME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_CANNED = 100
MAX_ANSWERS = 12
DEFAULT_BATCH = 200
DEFAULT_RECLAIM_MINUTES = 60
MAX_BATCH = 1000
MAX_RECLAIM = 7 * 24 * 60  # a week


Path = tuple[str | int, ...]  # where in the definition: ("canned_responses", 0, "text")


def dotted(path: Path) -> str:
    """The path as the API's messages spell it: canned_responses[0].text."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


class P2PError(ValueError):
    """A console setting that cannot be kept; the message names the field.

    `path` and `problem` are the message's two halves, so that the browser's form can put
    the same message, in its own words for the field, beside the field itself."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{dotted(path)}{problem}")


def _text(value: object, path: Path, limit: int, template: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise P2PError(path, " is required")
    if len(value) > limit:
        raise P2PError(path, f" is longer than {limit} characters")
    if template:
        try:
            check_template(value)
        except TemplateError as exc:
            raise P2PError(path, f": {exc}") from exc
    return value.strip()


def _translations(value: object, path: Path) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise P2PError(path, " must be an object of language: text")
    out = {}
    for lang, text in value.items():
        try:
            code = normalize_language(str(lang))
        except FieldError as exc:
            raise P2PError(path, f": {exc}") from exc
        out[code] = _text(text, (*path, code), 1600, template=True)
    return out


def _count(value: object, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise P2PError((name,), f" must be a whole number from {low} to {high}, got {value!r}")
    return value


def _canned(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_CANNED:
        raise P2PError(("canned_responses",), f" must be a list of at most {MAX_CANNED}")
    out = []
    for i, item in enumerate(value):
        path: Path = ("canned_responses", i)
        if not isinstance(item, Mapping):
            raise P2PError(path, ' must be an object like {"title": ..., "text": ...}')
        out.append({
            "title": _text(item.get("title"), (*path, "title"), 80),
            "text": _text(item.get("text"), (*path, "text"), 1600, template=True),
            "translations": _translations(item.get("translations"), (*path, "translations")),
        })  # fmt: skip
    return out


def _survey(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise P2PError(("survey",), ' must be an object like {"question": ..., "answers": [...]}')
    answers = value.get("answers")
    if not isinstance(answers, list) or not 1 <= len(answers) <= MAX_ANSWERS:
        raise P2PError(("survey", "answers"), f" must be a list of 1 to {MAX_ANSWERS} answers")
    out = []
    for i, answer in enumerate(answers):
        path: Path = ("survey", "answers", i)
        if not isinstance(answer, Mapping):
            raise P2PError(path, ' must be an object like {"label", "outcome", "next"}')
        outcome = answer.get("outcome")
        if not isinstance(outcome, str) or not OUTCOME_RE.match(outcome):
            raise P2PError((*path, "outcome"), " must be a name like pledged_to_vote")
        nxt = answer.get("next")
        out.append({
            "label": _text(answer.get("label"), (*path, "label"), 80),
            "outcome": outcome,
            "next": None if nxt in (None, "") else _text(nxt, (*path, "next"), 1600, True),
        })  # fmt: skip
    return {"question": _text(value.get("question"), ("survey", "question"), 300), "answers": out}


def validate_console(data: Mapping) -> dict[str, Any]:
    """The console fields of a campaign definition, checked and with their defaults."""
    mode = data.get("mode", CampaignMode.BLAST.value)
    try:
        mode = CampaignMode(mode).value
    except ValueError as exc:
        raise P2PError(("mode",), f" must be blast or p2p, got {mode!r}") from exc
    replies = data.get("volunteer_replies", mode == CampaignMode.P2P)
    if not isinstance(replies, bool):
        raise P2PError(("volunteer_replies",), " must be true or false")
    return {
        "mode": mode,
        "canned_responses": _canned(data.get("canned_responses")),
        "survey": _survey(data.get("survey")),
        "batch_size": _count(data.get("batch_size"), "batch_size", DEFAULT_BATCH, 1, MAX_BATCH),
        "reclaim_minutes": _count(
            data.get("reclaim_minutes"), "reclaim_minutes", DEFAULT_RECLAIM_MINUTES, 1, MAX_RECLAIM
        ),
        "volunteer_replies": replies or mode == CampaignMode.P2P,
    }


def console_to_dict(campaign: Campaign) -> dict[str, Any]:
    return {
        "mode": campaign.mode,
        "canned_responses": campaign.canned_responses or [],
        "survey": campaign.survey,
        "batch_size": campaign.batch_size,
        "reclaim_minutes": campaign.reclaim_minutes,
        "volunteer_replies": campaign.volunteer_replies,
    }


def outcomes_of(campaign: Campaign) -> list[str]:
    """Every outcome a volunteer may record in this campaign: keywords' and the survey's."""
    names = list(dict.fromkeys((campaign.keywords or {}).values()))
    for answer in (campaign.survey or {}).get("answers", []):
        if answer["outcome"] not in names:
            names.append(answer["outcome"])
    return names


def canned_text(item: Mapping, language: str) -> str:
    return (item.get("translations") or {}).get(language) or item["text"]
