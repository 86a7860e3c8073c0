"""Read a suppression list (a CSV of phones, maybe with a reason column) into rows."""

from __future__ import annotations

import io
from typing import BinaryIO

from textbank.members.csvfile import UnreadableFile, UnreadableRow, normalize_header, open_table
from textbank.members.fields import PHONE_HEADERS

REASON_HEADERS = ("reason", "opt_out_reason", "optout_reason", "suppression_reason", "why", "note",
                  "notes", "comment", "comments")  # fmt: skip


class NotASuppressionList(ValueError):
    """The file has no phone numbers to read; the message says why."""


def read_suppression_list(data: bytes | BinaryIO) -> list[tuple[int, str, str]]:
    """(row number, phone as written, reason or "") for every row with a phone."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        table = open_table(stream, (*PHONE_HEADERS, *REASON_HEADERS))
    except UnreadableFile as exc:
        raise NotASuppressionList(str(exc)) from exc
    headers = [normalize_header(h) for h in table.header]
    column = next((i for i, h in enumerate(headers) if h in PHONE_HEADERS), None)
    why = next((i for i, h in enumerate(headers) if h in REASON_HEADERS), None)
    try:
        rows = list(table.rows)
    except UnreadableFile as exc:
        raise NotASuppressionList(str(exc)) from exc
    # An opt-out must never be dropped quietly: a row that cannot be read refuses the file.
    for n, cells in rows:
        if isinstance(cells, UnreadableRow):
            raise NotASuppressionList(f"row {n} cannot be read: {cells.reason}")
    readable = [(n, cells) for n, cells in rows if isinstance(cells, list)]
    if column is None:  # a bare list of numbers, one per line, header included
        found = [(1, table.header[0], ""), *((n, cells[0], "") for n, cells in readable if cells)]
    else:
        found = [
            (n, cells[column], cells[why] if why is not None and len(cells) > why else "")
            for n, cells in readable
            if len(cells) > column and cells[column].strip()
        ]
    if not found:
        raise NotASuppressionList("the suppression list has no phone numbers")
    return found
