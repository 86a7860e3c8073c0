"""Message templates: merge fields, rendering for one member, and SMS segment counts."""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

MERGE_FIELDS: tuple[str, ...] = ("first_name", "last_name", "local", "worksite", "local_stats")

# GSM 03.38 basic character set, in table order (0x1B, the escape to the extension table,
# is left out: it is not a character anyone types).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Each of these is sent as ESC + one septet, so it costs two septets.
GSM_EXTENSION = "\f^{}\\[~]|€"

_GSM_BASIC = frozenset(GSM_BASIC)
_GSM_EXTENSION = frozenset(GSM_EXTENSION)

GSM7_SINGLE, GSM7_PART = 160, 153  # a concatenated part loses 7 septets to its header
UCS2_SINGLE, UCS2_PART = 70, 67

# Punctuation that should hug the preceding word once an empty value leaves a gap.
_CLOSING_PUNCTUATION = frozenset(",.!?;:")


class TemplateError(ValueError):
    """The template cannot be sent; the message tells a campaign manager what to fix."""


def _field_list() -> str:
    names = [f"{{{name}}}" for name in MERGE_FIELDS]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        # Formatter's own wording ("Single '}' encountered...") means nothing to a manager.
        raise TemplateError("unmatched { or } — write {{ or }} for a literal brace") from exc


def check_template(template: str) -> None:
    """Raise TemplateError unless the template uses only plain, known merge fields."""
    if not template or not template.strip():
        raise TemplateError("the message is empty")
    unknown: list[str] = []
    for _literal, field, spec, conversion in _parse(template):
        if field is None:
            continue
        if field == "":
            raise TemplateError(
                "empty {} in the message — name a merge field such as {first_name}, "
                "or write {{}} for literal braces"
            )
        if field.isdigit():
            raise TemplateError(
                f"numbered field {{{field}}} — name a merge field: use {_field_list()}"
            )
        if conversion is not None or spec:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise TemplateError(
                f"{{{shown}}} has formatting, which merge fields do not take — write {{{field}}}"
            )
        if "." in field or "[" in field:
            raise TemplateError(
                f"{{{field}}} looks inside a field, which merge fields do not allow; "
                f"use {_field_list()}"
            )
        if field.strip() in MERGE_FIELDS and field != field.strip():
            raise TemplateError(
                f"{{{field}}} has spaces inside the braces — write {{{field.strip()}}}"
            )
        if field not in MERGE_FIELDS and field not in unknown:
            unknown.append(field)
    if unknown:
        shown = " ".join(f"{{{name}}}" for name in unknown)
        noun = "field" if len(unknown) == 1 else "fields"
        raise TemplateError(f"unknown merge {noun} {shown}; use {_field_list()}")


def _pieces(template: str, values: Mapping[str, str | None]) -> Iterator[tuple[str, bool]]:
    """(text, is_value) in order; the literal text already has {{ and }} undoubled."""
    for literal, field, _spec, _conversion in _parse(template):
        if literal:
            yield literal, False
        if field is not None:
            value = values.get(field)
            # str() so a stray number (a local stored as 1199) renders rather than crashes.
            yield ("" if value is None else str(value)), True


def local_value(name: str | None, number: str | None) -> str:
    """{local} as every text says it: the local's name as imported ("Local 1199"), else its
    number. First texts (audience.audience_members, in SQL), keyword answers, canned
    responses and survey lines all fill it this way, so a thread never reads "Local 1199"
    in one text and "1199" in the next."""
    return name or number or ""


def render(template: str, values: Mapping[str, str | None]) -> str:
    """The template with each merge field replaced by the member's value (missing -> "").

    Values go in verbatim, never re-read as template text. Where a value is empty the text
    around it is tidied so "Hi {first_name}, vote!" reads "Hi, vote!" rather than "Hi , vote!".
    """
    check_template(template)
    result = ""
    gap = False  # an empty value was just dropped, and the join across it is not settled yet
    tidied = False
    for text, is_value in _pieces(template, values):
        if is_value and not text.strip():
            gap = tidied = True
            continue
        if gap and not is_value and (result.endswith(" ") or text.startswith(" ")):
            left, right = result.rstrip(" "), text.lstrip(" ")
            if not right:
                # Only spaces so far: keep one and settle the join at the next piece.
                result = left + " "
                continue
            joiner = (
                "" if not left or right[0] in _CLOSING_PUNCTUATION or right[0].isspace() else " "
            )
            result = left + joiner + right
        else:
            result += text
        gap = False
    return result.strip() if tidied else result


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentInfo:
    """How a text goes over the air: encoding, billable segments, length in encoding units."""

    encoding: Encoding
    segments: int
    characters: int


def _pack(units: list[int], single: int, part: int) -> int:
    """Segments needed, never splitting one character's units across two segments."""
    total = sum(units)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


def measure(text: str) -> SegmentInfo:
    """Encoding and segment count as carriers (and Twilio) bill them."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text):
        septets = [2 if ch in _GSM_EXTENSION else 1 for ch in text]
        return SegmentInfo(Encoding.GSM7, _pack(septets, GSM7_SINGLE, GSM7_PART), sum(septets))
    # Characters outside the Basic Multilingual Plane (emoji) are a UTF-16 surrogate pair.
    code_units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentInfo(Encoding.UCS2, _pack(code_units, UCS2_SINGLE, UCS2_PART), sum(code_units))


def ucs2_characters(text: str) -> list[str]:
    """The characters that force a text into UCS-2 (70 characters a segment, not 160)."""
    seen: list[str] = []
    for ch in text:
        if ch not in _GSM_BASIC and ch not in _GSM_EXTENSION and ch not in seen:
            seen.append(ch)
    return seen
