"""What the conversation modules share about SQL: the outbound table, affected-row counts."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result

from textbank.models import Conversation, OutboundMessage, table

OUT = table(OutboundMessage)
CONV = table(Conversation)


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE changed."""
    return cast(CursorResult[Any], result).rowcount
