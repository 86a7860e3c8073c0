"""Read a spreadsheet export (CSV) into header-keyed rows, whatever Excel did to it."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t", "|")


class UnreadableFile(ValueError):
    """The bytes cannot be read as a CSV table; the message says why."""


def decode(data: bytes) -> str:
    """Decode CSV bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    if not data.strip():
        raise UnreadableFile("the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("the file claims UTF-16 but is not") from exc
    if b"\x00" in data[:65536]:
        raise UnreadableFile(
            "the file is binary, not a CSV text file (is it an .xlsx? save as CSV)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's plain "CSV (Comma delimited)" on Windows writes Windows-1252.
        return data.decode("cp1252", errors="replace")


def normalize_header(name: str) -> str:
    """'First Name ' -> 'first_name', 'E-mail' -> 'e_mail'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


@dataclass
class Table:
    """A header and the data rows after it, each with its spreadsheet row number."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]


def _pick_delimiter(first_line: str, known: Iterable[str]) -> str:
    """The delimiter that splits the header into the most recognised column names."""
    known = set(known)

    def score(delim: str) -> tuple[int, int]:
        cells = next(csv.reader([first_line], delimiter=delim), [])
        return (sum(normalize_header(c) in known for c in cells), len(cells))

    return max(DELIMITERS, key=score)


def read_table(text: str, known_headers: Iterable[str]) -> Table:
    """Split decoded CSV text into a header and numbered rows (header is row 1)."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _pick_delimiter(first_line, known_headers)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    header_row = 0
    try:
        for header_row, cells in enumerate(reader, start=1):  # noqa: B007
            if any(c.strip() for c in cells):
                header = cells
                break
    except csv.Error as exc:
        raise UnreadableFile(f"row {reader.line_num}: {exc}") from exc
    if header is None:
        raise UnreadableFile("the file is empty")

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = header_row
        try:
            for cells in reader:
                number += 1
                yield number, cells
        except csv.Error as exc:
            raise UnreadableFile(f"row {number + 1}: {exc}") from exc

    return Table(header=header, rows=rows())
