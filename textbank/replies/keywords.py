"""Reading a reply: opt-out, opt-in and help words, and a campaign's keywords in any language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

# Twilio's default opt-out set: carriers expect every one of them to work.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
STATS_WORDS = frozenset({"STATS"})
DEFAULT_OPT_OUT_PHRASES = (
    "stop texting me",
    "stop texting",
    "stop messaging me",
    "remove me",
    "take me off your list",
    "unsubscribe me",
    "do not text me",
    "dont text me",
    "no more texts",
    "leave me alone",
    "para de escribirme",
    "no me escriban",
)

# The same keyword as members write it in the languages campaigns are translated into.
KEYWORD_TRANSLATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "YES": {"es": ("SI",), "pt": ("SIM",), "fr": ("OUI",), "ht": ("WI",), "vi": ("CO",),
            "it": ("SI",), "kea": ("SIN",), "tl": ("OO",)},
    "NO": {"es": ("NO",), "pt": ("NAO",), "fr": ("NON",), "ht": ("NON",), "vi": ("KHONG",)},
    "SIGN": {"es": ("FIRMA", "FIRMAR", "FIRMO"), "pt": ("ASSINAR", "ASSINO"),
             "fr": ("SIGNER",), "ht": ("SIYEN",)},
    "VOLUNTEER": {"es": ("VOLUNTARIO", "VOLUNTARIA"), "pt": ("VOLUNTARIO", "VOLUNTARIA"),
                  "fr": ("BENEVOLE",), "ht": ("VOLONTE",)},
    "PLEDGE": {"es": ("PROMETO",), "pt": ("PROMETO",)},
    "VOTE": {"es": ("VOTO", "VOTAR"), "pt": ("VOTO", "VOTAR")},
}  # fmt: skip

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """'  Sí!! ' -> 'SI': upper case, no accents, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub("", plain).upper()


def words(text: str) -> list[str]:
    return [w for w in (fold(part) for part in text.split()) if w]


def phrase_key(text: str) -> str:
    """Lower-case words joined by single spaces, accents and punctuation dropped."""
    return " ".join(w.lower() for w in words(text))


@dataclass(frozen=True)
class Reading:
    """A reply as the rules below read it, folded once however many rules look at it."""

    whole: str  # 'Sí!!' -> 'SI'
    words: tuple[str, ...]  # 'yes I will' -> ('YES', 'I', 'WILL')

    @classmethod
    def of(cls, text: str) -> Reading:
        return cls(fold(text), tuple(words(text)))

    @property
    def phrase(self) -> str:
        return " ".join(w.lower() for w in self.words)


@cache
def _phrase_keys(phrases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(phrase_key(p) for p in phrases)


def is_opt_out(reading: Reading, phrases: tuple[str, ...] = DEFAULT_OPT_OUT_PHRASES) -> bool:
    """STOP and friends as the whole message ('Stop.', 'stop!!'), or an opt-out phrase."""
    if reading.whole in OPT_OUT_WORDS:
        return True
    key = reading.phrase
    return any(key == p or key.startswith(p + " ") for p in _phrase_keys(tuple(phrases)))


# Words and phrases that, anywhere in a longer reply, suggest the member wants no more
# texts ('Actually STOP texting me'): not acted on (a person decides), only flagged.
_STOPPING_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "REVOKE"})
_STOPPING_PHRASES = ("remove me", "take me off", "dont text", "do not text", "dont message",
                     "do not message", "opt out", "no more texts", "no more messages",
                     "wrong number", "leave me alone", "no me escriban", "para de")  # fmt: skip


def sounds_like_opt_out(text: str) -> bool:
    """Whether a reply that no opt-out rule matched still reads like one, for a volunteer
    to look at: a stop word anywhere in it, or a phrase such as 'remove me'."""
    reading = Reading.of(text)
    if _STOPPING_WORDS.intersection(reading.words):
        return True
    key = f" {reading.phrase} "
    return any(f" {p} " in key for p in _phrase_keys(_STOPPING_PHRASES + DEFAULT_OPT_OUT_PHRASES))


def whole_word(reading: Reading, vocabulary: frozenset[str]) -> bool:
    return reading.whole in vocabulary


def keyword_table(keywords: Mapping[str, str], languages: Iterable[str | None]) -> dict[str, str]:
    """Every spelling that records an outcome: the campaign's words and their translations."""
    table: dict[str, str] = {}
    for word, outcome in keywords.items():
        key = fold(word)
        table[key] = outcome
        for lang in languages:
            for variant in KEYWORD_TRANSLATIONS.get(key, {}).get(lang or "", ()):
                table.setdefault(variant, outcome)
    return table


def match_keyword(reading: Reading, table: Mapping[str, str]) -> tuple[str, str] | None:
    """(keyword, outcome) when the reply is a keyword, alone or leading a short reply."""
    whole = reading.whole
    if whole in table:
        return whole, table[whole]
    parts = reading.words
    # 'Yes I will' counts; a long message that merely starts with 'yes' goes to a human.
    if parts and len(parts) <= 4 and parts[0] in table:
        return parts[0], table[parts[0]]
    return None
