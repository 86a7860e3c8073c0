"""STOP, START and HELP answers in the member's language: defaults, and an org's own wording."""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from textbank.models import ConfirmationText, utcnow

KINDS = {"opt_out": "STOP", "opt_in": "START", "help": "HELP"}
LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "zh": "Chinese",
    "ht": "Haitian Creole",
    "vi": "Vietnamese",
}
ORG = "{org}"  # replaced by TEXTBANK_ORG_NAME; str.replace, so braces in a name are safe
MAX_LENGTH = 320  # two GSM-7 segments; a confirmation is never a long read

DEFAULTS: dict[str, dict[str, str]] = {
    "opt_out": {
        "en": "You are unsubscribed from {org} texts and will get no more. Reply START to re-join.",
        "es": "Se dio de baja de los mensajes de {org} y no recibirá más. "
        "Responda START para volver.",
        "pt": "Você cancelou as mensagens de {org} e não receberá mais. "
        "Responda START para voltar.",
        "zh": "您已退订{org}的短信，将不会再收到。回复 START 可重新订阅。",  # noqa: RUF001
        "ht": "Ou dezabòne nan mesaj {org} yo, ou p ap resevwa lòt ankò. "
        "Reponn START pou w rejwenn.",
        "vi": "Bạn đã hủy đăng ký tin nhắn của {org} và sẽ không nhận thêm. "
        "Trả lời START để đăng ký lại.",
    },
    "opt_in": {
        "en": "You are re-subscribed to {org} texts. Reply STOP to opt out.",
        "es": "Volvió a inscribirse en los mensajes de {org}. Responda STOP para darse de baja.",
        "pt": "Você voltou a receber as mensagens de {org}. Responda STOP para cancelar.",
        "zh": "您已重新订阅{org}的短信。回复 STOP 可退订。",
        "ht": "Ou reabòne nan mesaj {org} yo. Reponn STOP pou w dezabòne.",
        "vi": "Bạn đã đăng ký lại tin nhắn của {org}. Trả lời STOP để hủy đăng ký.",
    },
    "help": {
        "en": "{org}: texts from your union about campaigns and actions. "
        "Msg & data rates may apply. Reply STOP to opt out.",
        "es": "{org}: mensajes de su sindicato sobre campañas y acciones. Pueden aplicarse "
        "tarifas de mensajes y datos. Responda STOP para darse de baja.",
        "pt": "{org}: mensagens do seu sindicato sobre campanhas e ações. Podem ser cobradas "
        "tarifas de mensagens e dados. Responda STOP para cancelar.",
        "zh": "{org}：您的工会发送的活动与行动短信。可能产生短信和数据费用。回复 STOP 退订。",  # noqa: RUF001
        "ht": "{org}: mesaj sendika w sou kanpay ak aksyon. Frè mesaj ak done ka aplike. "
        "Reponn STOP pou w dezabòne.",
        "vi": "{org}: tin nhắn từ công đoàn của bạn về các chiến dịch và hoạt động. Có thể "
        "tính phí tin nhắn và dữ liệu. Trả lời STOP để hủy đăng ký.",
    },
}


class ConfirmationError(ValueError):
    """A wording that cannot be saved; the message names the field."""


_TTL = 10.0  # seconds: another process sees an organization's edit within this
_cache: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}


def invalidate() -> None:
    _cache.clear()


def custom_texts(conn: Connection | Session) -> dict[tuple[str, str], str]:
    """(kind, language) -> the organization's own wording, cached briefly per process."""
    engine = conn.get_bind().engine if isinstance(conn, Session) else conn.engine
    key = str(engine.url)
    cached = _cache.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    rows = conn.execute(
        select(ConfirmationText.kind, ConfirmationText.language, ConfirmationText.text)
    )
    texts = {(kind, language): text for kind, language, text in rows}
    _cache[key] = (time.monotonic() + _TTL, texts)
    return texts


def wording(
    kind: str, language: str | None, custom: dict[tuple[str, str], str], english: str | None = None
) -> str:
    """The template for a kind in a language: the org's, else the default, else English."""
    language = language or "en"
    for lang in (language, "en"):
        if (kind, lang) in custom:
            return custom[(kind, lang)]
        if lang == "en" and english:
            return english  # TEXTBANK_HELP_TEXT, the org's English HELP from before
        if lang in DEFAULTS[kind]:
            return DEFAULTS[kind][lang]
    return DEFAULTS[kind]["en"]


def fill(template: str, org_name: str) -> str:
    return template.replace(ORG, org_name)


def save(session: Session, kind: str, language: str, text: str) -> bool:
    """Set (or, given blank text, clear back to the default) one wording; True if changed."""
    if kind not in KINDS:
        raise ConfirmationError(f"kind must be one of {', '.join(KINDS)}")
    if language not in LANGUAGES:
        raise ConfirmationError(f"language must be one of {', '.join(LANGUAGES)}")
    text = " ".join(text.split())
    row = session.get(ConfirmationText, (kind, language))
    if not text or text == DEFAULTS[kind][language]:
        if row is None:
            return False
        session.execute(
            delete(ConfirmationText).where(
                ConfirmationText.kind == kind, ConfirmationText.language == language
            )
        )
        invalidate()
        return True
    if len(text) > MAX_LENGTH:
        raise ConfirmationError(
            f"{KINDS[kind]} in {LANGUAGES[language]}: over {MAX_LENGTH} characters"
        )
    if kind in ("opt_in", "help") and "STOP" not in text.upper():
        # Carriers require these answers to say how to opt out.
        raise ConfirmationError(f"{KINDS[kind]} in {LANGUAGES[language]} must say how to STOP")
    if row is not None and row.text == text:
        return False
    if row is None:
        session.add(ConfirmationText(kind=kind, language=language, text=text, updated_at=utcnow()))
    else:
        row.text = text
    session.flush()
    invalidate()
    return True
