"""The campaign form's conversation settings: mode, batch size, reclaim time, canned
responses and the survey, read into the API's definition and checked by the API's own rules.

Each problem is raised as a FieldProblem naming the form field it belongs beside, in the
form's words ("Canned response 2: its text is required"), where the API names the same
problem by its JSON path ("canned_responses[1].text is required"): one check, two spellings.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.datastructures import MultiDict

from textbank.campaigns.p2p import (
    MAX_ANSWERS,
    MAX_CANNED,
    P2PError,
    Path,
    validate_console,
)
from textbank.models import Campaign, CampaignMode
from textbank.web.campaign_forms import LANGUAGES, FormError

BLANK_ROWS = 2  # blank canned-response and survey-answer rows offered beyond the filled ones
_NUMBER = re.compile(r"^[+-]?[0-9]{1,40}$")
_ROW_ACTION = re.compile(r"^(add|remove)_(canned|answer)(?:_([0-9]{1,3}))?$")
_LIMITS = {"canned": MAX_CANNED, "answer": MAX_ANSWERS}
_SIMPLE = {
    "mode": "Mode",
    "volunteer_replies": "Volunteers may answer the replies",
    "batch_size": "Batch size",
    "reclaim_minutes": "Reclaim time (minutes)",
}


class FieldProblem(FormError):
    """A form value that cannot be kept, with the field (its name) to show the message by."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _number(form: MultiDict, name: str) -> int | None:
    raw = (form.get(name) or "").strip().replace(",", "")
    if not raw:
        return None  # the API's default
    if not _NUMBER.match(raw):
        raise FieldProblem(f"{_SIMPLE[name]} must be a whole number, got {raw[:40]!r}", name)
    return int(raw)


def _rows(form: MultiDict, kind: str) -> int:
    raw = (form.get(f"{kind}_rows") or "0").strip()
    limit = _LIMITS[kind] + BLANK_ROWS
    if not raw.isascii() or not raw.isdigit() or int(raw) > limit:
        what = "canned responses" if kind == "canned" else "survey answers"
        raise FieldProblem(f"At most {_LIMITS[kind]} {what}, got {raw[:20]!r} rows", f"{kind}s")
    return int(raw)


def canned_rows(form: MultiDict, languages: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """(form row, canned response) for each row with anything in it; blank rows are dropped
    (that is how a row is removed without the Remove button, too)."""
    out = []
    for i in range(_rows(form, "canned")):
        title = (form.get(f"canned_title_{i}") or "").strip()
        text = (form.get(f"canned_text_{i}") or "").strip()
        translations = {
            lang: value
            for lang in languages
            if (value := (form.get(f"canned_text_{lang}_{i}") or "").strip())
        }
        if title or text or translations:
            out.append((i, {"title": title, "text": text, "translations": translations}))
    return out


def answer_rows(form: MultiDict) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for i in range(_rows(form, "answer")):
        answer = {key: (form.get(f"answer_{key}_{i}") or "").strip()
                  for key in ("label", "outcome", "next")}  # fmt: skip
        if any(answer.values()):
            out.append((i, answer))
    return out


def console_from_form(form: MultiDict, languages: list[str]) -> dict[str, Any]:
    """The conversation settings as POST /api/v1/campaigns takes them, checked as it checks
    them; a FieldProblem names the field that is wrong."""
    mode = form.get("mode") or CampaignMode.BLAST.value
    data: dict[str, Any] = {
        "mode": mode,
        "volunteer_replies": form.get("volunteer_replies") == "on",
        "reclaim_minutes": _number(form, "reclaim_minutes"),
    }
    if mode == CampaignMode.P2P:  # a blast hands out no batches: its hidden field is ignored
        data["batch_size"] = _number(form, "batch_size")
    canned = canned_rows(form, languages)
    if len(canned) > MAX_CANNED:
        raise FieldProblem(f"At most {MAX_CANNED} canned responses; remove some.", "canneds")
    data["canned_responses"] = [item for _, item in canned]
    question = (form.get("survey_question") or "").strip()
    answers = answer_rows(form)
    if question or answers:
        if not answers:
            raise FieldProblem("The survey needs at least one answer (or no question).",
                               "answer_label_0")  # fmt: skip
        if len(answers) > MAX_ANSWERS:
            raise FieldProblem(f"At most {MAX_ANSWERS} survey answers; remove some.", "answers")
        data["survey"] = {"question": question, "answers": [a for _, a in answers]}
    try:
        validate_console(data)
    except P2PError as exc:
        field, label = _where(exc.path, [i for i, _ in canned], [i for i, _ in answers])
        raise FieldProblem(f"{label}{exc.problem}", field) from exc
    return data


def _where(path: Path, canned: list[int], answers: list[int]) -> tuple[str | None, str]:
    """The form field and its words for a path in the API's definition."""
    head = path[0]
    if head in _SIMPLE:
        return str(head), _SIMPLE[str(head)]
    if head == "canned_responses" and len(path) >= 3 and isinstance(path[1], int):
        row = canned[path[1]]
        if path[2] == "title":
            return f"canned_title_{row}", f"Canned response {row + 1}: its title"
        if len(path) == 4:
            lang = str(path[3])
            return (f"canned_text_{lang}_{row}",
                    f"Canned response {row + 1} in {LANGUAGES.get(lang, lang)}")  # fmt: skip
        return f"canned_text_{row}", f"Canned response {row + 1}: its text"
    if head == "survey" and len(path) >= 4 and isinstance(path[2], int):
        row, key = answers[path[2]], str(path[3])
        words = {"label": "its answer", "outcome": "its outcome", "next": "its next line"}
        return f"answer_{key}_{row}", f"Survey answer {row + 1}: {words.get(key, key)}"
    if head == "survey" and len(path) > 1 and path[1] == "question":
        return "survey_question", "The survey question"
    return None, "The conversation settings"


def console_values(campaign: Campaign) -> dict[str, Any]:
    """The form's values for a campaign's conversation settings."""
    values: dict[str, Any] = {
        "mode": campaign.mode,
        "volunteer_replies": bool(campaign.volunteer_replies),
        "batch_size": str(campaign.batch_size),
        "reclaim_minutes": str(campaign.reclaim_minutes),
    }
    for i, item in enumerate(campaign.canned_responses or []):
        values[f"canned_title_{i}"], values[f"canned_text_{i}"] = item["title"], item["text"]
        for lang, text in (item.get("translations") or {}).items():
            values[f"canned_text_{lang}_{i}"] = text
    survey = campaign.survey or {}
    values["survey_question"] = survey.get("question", "")
    for i, answer in enumerate(survey.get("answers", [])):
        for key in ("label", "outcome", "next"):
            values[f"answer_{key}_{i}"] = answer.get(key) or ""
    return values


def canned_languages(campaign: Campaign | None, languages: list[str]) -> list[str]:
    """The form's languages, and any a canned response of the campaign is written in: an
    edit must not drop a translation the form has no box for."""
    extra = {lang for item in ((campaign.canned_responses if campaign else None) or [])
             for lang in (item.get("translations") or {})}  # fmt: skip
    return [*languages, *sorted(extra - set(languages))]


def row_counts(values: dict, form: MultiDict | None = None) -> dict[str, int]:
    """Rows to show: what the form had (after an error), else the filled ones and blanks."""
    counts = {}
    for kind, prefix in (("canned", "canned_title_"), ("answer", "answer_label_")):
        posted = (form.get(f"{kind}_rows") or "") if form is not None else ""
        if posted.isascii() and posted.isdigit():
            counts[kind] = min(int(posted), _LIMITS[kind] + BLANK_ROWS)
        else:
            used = sum(1 for key in values if key.startswith(prefix))
            counts[kind] = min(used + BLANK_ROWS, _LIMITS[kind])
    return counts


def change_rows(form: MultiDict, values: dict, action: str) -> tuple[dict, dict, str | None]:
    """Add or remove a row ("Add another canned response", "Remove answer 2") without
    saving: the values renumbered, the row counts, and the field to put the focus on."""
    counts = row_counts(values, form)
    found = _ROW_ACTION.match(action)
    if not found:
        raise FieldProblem(f"Not a change to the rows: {action[:40]!r}")
    verb, kind, index = found.group(1), found.group(2), found.group(3)
    first = "canned_title" if kind == "canned" else "answer_label"
    if verb == "add":
        if counts[kind] >= _LIMITS[kind]:
            what = "canned responses" if kind == "canned" else "survey answers"
            raise FieldProblem(f"At most {_LIMITS[kind]} {what}.", f"{kind}s")
        counts[kind] += 1
        return values, counts, f"{first}_{counts[kind] - 1}"
    gone = int(index or 0)
    prefix = "canned_" if kind == "canned" else "answer_"
    pattern = re.compile(rf"^({prefix}(?:[a-z]+_)*?)([0-9]+)$")
    kept: dict = {}
    for key, value in values.items():
        match = pattern.match(key) if key != f"{kind}_rows" else None
        if not match:
            kept[key] = value
        elif (row := int(match.group(2))) != gone:
            kept[f"{match.group(1)}{row - 1 if row > gone else row}"] = value
    counts[kind] = max(counts[kind] - 1, 1)
    return kept, counts, f"{first}_{min(gone, counts[kind] - 1)}"
