"""Read a spreadsheet export (CSV) into header-keyed rows, whatever Excel did to it."""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t", "|")


class UnreadableFile(ValueError):
    """The bytes cannot be read as a CSV table; the message says why."""


@dataclass(frozen=True)
class UnreadableRow:
    """A row that cannot be read; the reason says why. The rows around it can."""

    reason: str


# A multi-byte UTF-8 sequence: a file that has one was written as UTF-8, whatever else it has.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
MAX_COLUMNS = 1000
BINARY_CHECK_BYTES = 65536


def refuse_binary(head: bytes) -> None:
    """Refuse a file whose first bytes hold a NUL (a spreadsheet, a zip), unless UTF-16."""
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(
            "the file is binary, not a CSV text file (is it an .xlsx? save as CSV)"
        )


def decode(data: bytes) -> str:
    """Decode CSV bytes, one rule per file.

    UTF-16 with a BOM; UTF-8 (with or without BOM) when it all decodes, or when it has any
    UTF-8 accented letter: then the few bytes that are not UTF-8 stay marked (surrogate
    escapes) and read_table rejects their rows by number, so "José" is never read as
    "JosÃ©" because one other row was saved in another encoding. A file with high bytes and
    no UTF-8 at all is Windows-1252 (Excel's plain "CSV (Comma delimited)" on Windows).
    """
    if not data.strip():
        raise UnreadableFile("the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("the file claims UTF-16 but is not") from exc
    refuse_binary(data[:BINARY_CHECK_BYTES])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if _UTF8_SEQUENCE.search(data):
            return data.decode("utf-8-sig", errors="surrogateescape")
        return data.decode("cp1252", errors="replace")


def normalize_header(name: str) -> str:
    """'First Name ' -> 'first_name', 'E-mail' -> 'e_mail'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


@dataclass
class Table:
    """A header and the data rows after it, each with its spreadsheet row number."""

    header: list[str]
    rows: Iterator[tuple[int, list[str] | UnreadableRow]]


def _pick_delimiter(first_line: str, known: Iterable[str]) -> str:
    """The delimiter that splits the header into the most recognised column names."""
    known = set(known)

    def score(delim: str) -> tuple[int, int]:
        try:
            cells = next(csv.reader([first_line], delimiter=delim), [])
        except csv.Error:  # a cell past the field limit: read_table says so, naming the row
            return (-1, 0)
        return (sum(normalize_header(c) in known for c in cells), len(cells))

    return max(DELIMITERS, key=score)


class _Lines:
    """The text's physical lines, counted, with the ones of the record being read kept."""

    def __init__(self, text: str) -> None:
        self._lines = iter(text.splitlines(keepends=True))
        self.replay: deque[str] = deque()
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.replay.popleft() if self.replay else next(self._lines)
        self.record.append(line)
        return line


def _bad_cells(cells: list[str]) -> str | None:
    for cell in cells:
        if "\x00" in cell:
            return "it has a NUL character (the file may be damaged)"
        if any("\udc80" <= ch <= "\udcff" for ch in cell):
            bad = next(ch for ch in cell if "\udc80" <= ch <= "\udcff")
            return (f"it is not UTF-8 like the rest of the file (byte 0x{ord(bad) - 0xDC00:02X}); "
                    "fix its accents and import it again")  # fmt: skip
    return None


def _runaway(record: list[str], cells: list[str], width: int, delimiter: str) -> bool:
    """True for a record a stray quote ran on into the lines after it.

    A quoted cell may hold line breaks; but a record over several lines with the wrong
    number of cells, or whose inner lines each look like a whole row, is rows swallowed.
    """
    if len(record) < 2:
        return False
    if len(cells) != width:
        return True
    return width > 1 and any(line.count(delimiter) >= width - 1 for line in record[1:-1])


def read_table(text: str, known_headers: Iterable[str]) -> Table:
    """Split decoded CSV text into a header and numbered rows (header is row 1).

    Rows that cannot be read come as (number, UnreadableRow) instead of cells: a quote that
    never closes on its own line and leaves the row with the wrong number of cells (it
    would swallow the rows after it), a NUL, bytes that are not in the file's encoding.
    The rows after such a row are read from the line after it.
    """
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _pick_delimiter(first_line, known_headers)
    lines = _Lines(text)

    def reader():
        return csv.reader(lines, delimiter=delimiter, strict=False)

    records = reader()
    header: list[str] | None = None
    header_row = 0
    try:
        for header_row, cells in enumerate(records, start=1):  # noqa: B007
            lines.record = []
            if any(c.strip() for c in cells):
                header = cells
                break
    except csv.Error as exc:
        raise UnreadableFile(f"row {header_row + 1}: the header cannot be read: {exc}") from exc
    if header is None:
        raise UnreadableFile("the file is empty")
    if len(header) > MAX_COLUMNS:
        raise UnreadableFile(
            f"row {header_row}: the header has {len(header)} columns; at most {MAX_COLUMNS}"
        )
    problem = _bad_cells(header)
    if problem:
        raise UnreadableFile(f"row {header_row}: the header cannot be read: {problem}")

    def rows() -> Iterator[tuple[int, list[str] | UnreadableRow]]:
        nonlocal records
        number = header_row
        while True:
            lines.record = []
            try:
                cells = next(records)
                error = None
            except StopIteration:
                return
            except csv.Error as exc:
                cells, error = [], str(exc)
            number += 1
            if error or _runaway(lines.record, cells, len(header), delimiter):
                reason = error or (
                    "a quote opens in it and does not close on its line (an unbalanced "
                    "quote); it was not imported, and the rows after it were read on their own"
                )
                yield number, UnreadableRow(reason)
                # Read again from the line after the one where the row began.
                lines.replay.extendleft(reversed(lines.record[1:]))
                records = reader()
                continue
            problem = _bad_cells(cells)
            yield number, (UnreadableRow(problem) if problem else cells)

    return Table(header=header, rows=rows())
