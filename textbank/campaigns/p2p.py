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


class P2PError(ValueError):
    """A console setting that cannot be kept; the message names the field."""


def _text(value: object, field: str, limit: int, template: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise P2PError(f"{field} is required text")
    if len(value) > limit:
        raise P2PError(f"{field} is longer than {limit} characters")
    if template:
        try:
            check_template(value)
        except TemplateError as exc:
            raise P2PError(f"{field}: {exc}") from exc
    return value.strip()


def _translations(value: object, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise P2PError(f"{field} must be an object of language: text")
    out = {}
    for lang, text in value.items():
        try:
            code = normalize_language(str(lang))
        except FieldError as exc:
            raise P2PError(f"{field}: {exc}") from exc
        out[code] = _text(text, f"{field}.{code}", 1600, template=True)
    return out


def _count(value: object, field: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise P2PError(f"{field} must be a whole number from {low} to {high}")
    return value


def _canned(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_CANNED:
        raise P2PError(f"canned_responses must be a list of at most {MAX_CANNED}")
    out = []
    for i, item in enumerate(value):
        field = f"canned_responses[{i}]"
        if not isinstance(item, Mapping):
            raise P2PError(f'{field} must be an object like {{"title": ..., "text": ...}}')
        out.append({
            "title": _text(item.get("title"), f"{field}.title", 80),
            "text": _text(item.get("text"), f"{field}.text", 1600, template=True),
            "translations": _translations(item.get("translations"), f"{field}.translations"),
        })  # fmt: skip
    return out


def _survey(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise P2PError('survey must be an object like {"question": ..., "answers": [...]}')
    answers = value.get("answers")
    if not isinstance(answers, list) or not 1 <= len(answers) <= MAX_ANSWERS:
        raise P2PError(f"survey.answers must be a list of 1 to {MAX_ANSWERS} answers")
    out = []
    for i, answer in enumerate(answers):
        field = f"survey.answers[{i}]"
        if not isinstance(answer, Mapping):
            raise P2PError(f'{field} must be an object like {{"label", "outcome", "next"}}')
        outcome = answer.get("outcome")
        if not isinstance(outcome, str) or not OUTCOME_RE.match(outcome):
            raise P2PError(f"{field}.outcome must be a name like pledged_to_vote")
        nxt = answer.get("next")
        out.append({
            "label": _text(answer.get("label"), f"{field}.label", 80),
            "outcome": outcome,
            "next": None if nxt in (None, "") else _text(nxt, f"{field}.next", 1600, True),
        })  # fmt: skip
    return {"question": _text(value.get("question"), "survey.question", 300), "answers": out}


def validate_console(data: Mapping) -> dict[str, Any]:
    """The console fields of a campaign definition, checked and with their defaults."""
    mode = data.get("mode", CampaignMode.BLAST.value)
    try:
        mode = CampaignMode(mode).value
    except ValueError as exc:
        raise P2PError(f"mode must be blast or p2p, got {mode!r}") from exc
    replies = data.get("volunteer_replies", mode == CampaignMode.P2P)
    if not isinstance(replies, bool):
        raise P2PError("volunteer_replies must be true or false")
    return {
        "mode": mode,
        "canned_responses": _canned(data.get("canned_responses")),
        "survey": _survey(data.get("survey")),
        "batch_size": _count(data.get("batch_size"), "batch_size", DEFAULT_BATCH, 1, 1000),
        "reclaim_minutes": _count(
            data.get("reclaim_minutes"), "reclaim_minutes", DEFAULT_RECLAIM_MINUTES, 1, 7 * 24 * 60
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
