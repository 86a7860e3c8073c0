"""CSV that spreadsheets open as data: no cell a member or manager typed runs as a formula."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

# Excel, LibreOffice and Sheets treat a cell starting with any of these as a formula (or,
# for tab and CR, strip them and then do).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number cannot call anything, so "+15551234567" and "-3" stay as they are.
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")


def safe_cell(value: Any) -> Any:
    """The value, with a leading ' when a spreadsheet would otherwise evaluate it."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS and not _NUMBER.match(value):
        return "'" + value
    return value


def csv_chunks(
    fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]], per_chunk: int = 1000
) -> Iterator[str]:
    """Rows as CSV text with a header, `per_chunk` rows at a time: a download streamed in
    pieces holds one piece in memory, whatever the number of rows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames, extrasaction="ignore")
    writer.writeheader()
    for n, row in enumerate(rows, 1):
        writer.writerow({key: safe_cell(value) for key, value in row.items()})
        if n % per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def to_csv(fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV text with a header; keys outside fieldnames are left out."""
    return "".join(csv_chunks(fieldnames, rows))
