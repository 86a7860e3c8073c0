"""Member fields as files spell them: column aliases and value normalisation."""

from __future__ import annotations

import re

from textbank.members.languages import is_language

# Canonical field -> accepted header names (already normalised: lower_snake_case).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "first", "firstname", "given_name", "fname", "forename"),
    "last_name": ("last_name", "last", "lastname", "surname", "family_name", "lname"),
    "full_name": ("name", "full_name", "fullname", "member_name"),
    "phone": (
        "phone",
        "cell",
        "mobile",
        "phone_number",
        "cell_phone",
        "mobile_phone",
        "cellphone",
        "mobile_number",
        "cell_number",
        "telephone",
        "tel",
        "phonenumber",
        "sms",
        "sms_phone",
        "primary_phone",
        "home_phone",
    ),
    "email": ("email", "e_mail", "email_address", "mail"),
    "local": (
        "local",
        "local_number",
        "local_no",
        "local_num",
        "localnumber",
        "local_union",
        "union_local",
        "local_id",
        "local_union_number",
    ),
    "local_name": ("local_name", "local_union_name"),
    "worksite": (
        "worksite",
        "work_site",
        "workplace",
        "work_location",
        "site",
        "school",
        "building",
        "employer",
        "job_site",
    ),
    "language": ("language", "lang", "preferred_language", "language_preference", "locale"),
    "status": ("status", "member_status", "membership_status", "member_type", "membership_type"),
    "tags": ("tags", "tag", "labels", "groups"),
    "is_leader": ("leader", "is_leader", "local_leader", "steward_leader"),
    "external_id": (
        "vanid",
        "van_id",
        "voterfile_vanid",
        "myc_van_id",
        "external_id",
        "action_network_id",
        "uuid",
        "member_id",
        "member_number",
        "membership_number",
        "union_id",
        "employee_id",
    ),
    "zip_code": ("zip", "zip_code", "zipcode", "zip5", "postal_code", "postcode", "zip_postal"),
}
ALIAS_TO_FIELD = {alias: field for field, aliases in HEADER_ALIASES.items() for alias in aliases}
PHONE_HEADERS = HEADER_ALIASES["phone"]

MAX_LENGTHS = {
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "worksite": 200,
    "local": 32,
    "local_name": 200,
    "external_id": 64,
}

LANGUAGE_NAMES = {
    "english": "en",
    "ingles": "en",
    "inglés": "en",
    "spanish": "es",
    "espanol": "es",
    "español": "es",
    "castellano": "es",
    "portuguese": "pt",
    "portugues": "pt",
    "português": "pt",
    "chinese": "zh",
    "mandarin": "zh",
    "cantonese": "zh",
    "中文": "zh",
    "haitian creole": "ht",
    "haitian": "ht",
    "kreyol": "ht",
    "kreyòl": "ht",
    "creole": "ht",
    "cape verdean creole": "kea",
    "kabuverdianu": "kea",
    "vietnamese": "vi",
    "tiếng việt": "vi",
    "french": "fr",
    "francais": "fr",
    "français": "fr",
    "russian": "ru",
    "arabic": "ar",
    "korean": "ko",
    "tagalog": "tl",
    "filipino": "tl",
    "khmer": "km",
    "somali": "so",
    "polish": "pl",
    "italian": "it",
    "greek": "el",
    "hindi": "hi",
    "bengali": "bn",
    "urdu": "ur",
    "nepali": "ne",
    "amharic": "am",
    "german": "de",
    "japanese": "ja",
    "hmong": "hmn",
    "ukrainian": "uk",
    "albanian": "sq",
}
_LANG_CODE_RE = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{2,8})*$")

STATUS_ALIASES = {
    "active": "active",
    "member": "active",
    "full member": "active",
    "current": "active",
    "retiree": "retiree",
    "retired": "retiree",
    "retiree member": "retiree",
    "inactive": "inactive",
    "lapsed": "lapsed",
    "new": "new",
    "new member": "new",
    "agency fee": "agency_fee",
    "non-member": "non_member",
    "nonmember": "non_member",
    "leave": "on_leave",
    "on leave": "on_leave",
}
_STATUS_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]{2,}$")
# "Local 1199", "Local Union No. 1199", "LU #1199", "#1199": all local 1199.
_LOCAL_PREFIX_RE = re.compile(
    r"^(?:(?:local(?:\s+union)?|lu)\s*(?:no\.?|number|#)?|#|no\.?)\s*", re.I
)


class FieldError(ValueError):
    """A value that cannot be stored; the message names the field."""


def normalize_language(value: str) -> str:
    """'Spanish', 'es-MX', 'ES' -> 'es'."""
    text = value.strip().lower()
    if text in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[text]
    match = _LANG_CODE_RE.match(text)
    if match and is_language(match.group(1)):
        return match.group(1)
    raise FieldError(f"unknown language {value.strip()!r} (use a code such as en, es, pt)")


def normalize_status(value: str) -> str:
    """'Retired' -> 'retiree'; other simple words kept, lower-cased."""
    text = " ".join(value.strip().lower().split())
    if text in STATUS_ALIASES:
        return STATUS_ALIASES[text]
    slug = text.replace(" ", "_").replace("-", "_")
    if not _STATUS_RE.match(slug):
        raise FieldError(f"unreadable status {value.strip()!r}")
    return slug


def normalize_email(value: str) -> str:
    text = value.strip().lower()
    if not _EMAIL_RE.match(text):
        raise FieldError(f"invalid email {value.strip()!r}")
    return text


_ZIP_RE = re.compile(r"^(\d{5})(?:-?\d{4})?$")


def normalize_zip(value: str) -> str:
    """'02139-4307' -> '02139'; Excel's '2139' (leading zero eaten) -> '02139'."""
    text = value.strip()
    if text.isdigit() and len(text) in (3, 4):
        text = text.zfill(5)
    match = _ZIP_RE.match(text)
    if not match:
        raise FieldError(f"invalid zip code {value.strip()!r}")
    return match.group(1)


def normalize_local(value: str) -> str:
    """'Local 1199', 'local #2-A', ' 1199 ' -> '1199', '2-A'."""
    text = _LOCAL_PREFIX_RE.sub("", value.strip()).strip().upper()
    if not text:
        raise FieldError(f"unreadable local {value.strip()!r}")
    return text


_TRUE = {"1", "y", "yes", "true", "x", "leader", "si", "sí"}
_FALSE = {"0", "n", "no", "false", "-"}


def parse_flag(value: str, field: str) -> bool:
    """'Yes', 'x', '1' -> True; 'no', '0' -> False; anything else is refused."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldError(f"{field} must be yes or no, got {value.strip()!r}")


def split_tags(value: str) -> set[str]:
    """'Captain; retiree;;GOTV ' -> {'captain', 'retiree', 'gotv'}."""
    tags = {" ".join(t.split()).lower() for t in value.split(";")}
    tags.discard("")
    for tag in tags:
        if len(tag) > 64:
            raise FieldError(f"tag longer than 64 characters: {tag[:20]!r}...")
    return tags


def split_full_name(value: str) -> tuple[str, str]:
    """'Rivera, Ana' or 'Ana Rivera' -> ('Ana', 'Rivera')."""
    text = " ".join(value.split())
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    first, _, last = text.partition(" ")
    return first, last
