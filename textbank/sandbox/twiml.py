"""Reading the TwiML the app answers with: reply <Message>s and <Gather> menus."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree


@dataclass(frozen=True, slots=True)
class Reply:
    body: str
    to: str | None
    from_: str | None


def _parse(twiml: str) -> ElementTree.Element | None:
    if not twiml.lstrip().startswith("<"):
        return None
    try:
        # The TwiML comes from the app under test on this machine, never from the internet.
        return ElementTree.fromstring(twiml)  # noqa: S314
    except ElementTree.ParseError:
        return None


def replies(twiml: str) -> list[Reply]:
    """Every <Message> (text or <Body> child) in a messaging TwiML response."""
    root = _parse(twiml)
    if root is None:
        return []
    found = []
    for element in root.iter("Message"):
        body = element.find("Body")
        text = body.text if body is not None else element.text
        found.append(Reply((text or "").strip(), element.get("to"), element.get("from")))
    return found


def find_gather(twiml: str) -> tuple[str | None, str] | None:
    """The first <Gather>'s (action, method), or None when the TwiML gathers nothing."""
    root = _parse(twiml)
    if root is None:
        return None
    for gather in root.iter("Gather"):
        return gather.get("action"), (gather.get("method") or "POST").upper()
    return None
