"""Read a spreadsheet export (CSV) into header-keyed rows, whatever Excel did to it."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, TextIO

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
PIECE = 1024 * 1024  # bytes read at a time
# One physical line longer than this is refused (its row, or the file if it is the header)
# before it is held: a million columns fit, a 200 MB file without a line break does not.
MAX_LINE = 8 * 1024 * 1024
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def refuse_binary(head: bytes) -> None:
    """Refuse a file whose first bytes hold a NUL (a spreadsheet, a zip), unless UTF-16."""
    if b"\x00" in head and not head.startswith(_UTF16_BOMS):
        raise UnreadableFile(
            "the file is binary, not a CSV text file (is it an .xlsx? save as CSV)"
        )


@dataclass(frozen=True)
class Encoding:
    """How a file's bytes are read as text, decided once for the whole file."""

    codec: str  # "utf-16", "utf-8-sig" or "cp1252"
    errors: str
    lines: int = 0  # line breaks in the file: at most this many rows after the header


class Sniffer:
    """Decide a file's encoding from its bytes as they pass by, a piece at a time.

    One rule per file: UTF-16 with a BOM; UTF-8 (with or without BOM) when the file has any
    UTF-8 multi-byte sequence: then the few bytes that are not UTF-8 stay marked (surrogate
    escapes) and read_table rejects their rows by number, so "José" is never read as "JosÃ©"
    because one other row was saved in another encoding. A file with high bytes and no UTF-8
    at all is Windows-1252 (Excel's plain "CSV (Comma delimited)" on Windows); plain ASCII
    reads the same either way. The sequence that decides may be the file's last line, so the
    decision is taken after the last byte: a file is read twice (here, then to import it) and
    never held whole. A binary file is refused as soon as its first 64 KB have passed.
    """

    def __init__(self) -> None:
        self._head = b""
        self._started = False
        self._tail = b""  # a UTF-8 sequence may straddle two pieces
        self._utf8 = self._high = self._content = False
        self._utf16: codecs.IncrementalDecoder | None = None
        self.lines = 0
        self.size = 0

    def feed(self, piece: bytes) -> None:
        self.size += len(piece)
        if self._started:
            self._scan(piece)
            return
        self._head += piece
        if len(self._head) >= BINARY_CHECK_BYTES:
            self._start()

    def _start(self) -> None:
        head, self._head, self._started = self._head, b"", True
        if head.startswith(_UTF16_BOMS):
            self._utf16 = codecs.getincrementaldecoder("utf-16")()
        else:
            refuse_binary(head[:BINARY_CHECK_BYTES])
        self._scan(head)

    def _scan(self, piece: bytes) -> None:
        self.lines += piece.count(b"\n")
        if not self._content and piece.strip():
            self._content = True
        if self._utf16 is not None:
            try:
                self._utf16.decode(piece)
            except UnicodeDecodeError as exc:
                raise UnreadableFile("the file claims UTF-16 but is not") from exc
            return
        if self._utf8 or piece.isascii():
            self._tail = b""
            return
        self._high = True
        window = self._tail + piece
        self._utf8 = _UTF8_SEQUENCE.search(window) is not None
        self._tail = window[-3:]

    def finish(self) -> Encoding:
        if not self._started:
            self._start()
        if not self._content:
            raise UnreadableFile("the file is empty")
        if self._utf16 is not None:
            try:
                self._utf16.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                raise UnreadableFile("the file claims UTF-16 but is not") from exc
            return Encoding("utf-16", "strict", self.lines)
        if self._utf8 or not self._high:
            return Encoding("utf-8-sig", "surrogateescape", self.lines)
        return Encoding("cp1252", "replace", self.lines)


def pieces(stream: IO[bytes]) -> Iterator[bytes]:
    """A file's bytes in pieces: its first 64 KB alone (a binary file stops there)."""
    size = BINARY_CHECK_BYTES
    while piece := stream.read(size):
        yield piece
        size = PIECE


def sniff(stream: BinaryIO) -> Encoding:
    """Read a seekable file once, a piece at a time, for its encoding; rewind it."""
    sniffer = Sniffer()
    for piece in pieces(stream):
        sniffer.feed(piece)
    stream.seek(0)
    return sniffer.finish()


def open_text(stream: BinaryIO, encoding: Encoding) -> TextIO:
    """The file as text, decoded a few KB at a time (newline="" as the csv module wants)."""
    return io.TextIOWrapper(
        stream,
        encoding=encoding.codec,
        errors=encoding.errors,
        newline="",
    )


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


class _LongLine(Exception):
    """A physical line past MAX_LINE; it was skipped to its end, never held whole."""


class _Lines:
    """The text's physical lines, counted, with the ones of the record being read kept."""

    def __init__(self, text: TextIO) -> None:
        self._text = text
        self.replay: deque[str] = deque()
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def _read(self) -> str:
        line = self._text.readline(MAX_LINE)
        if len(line) == MAX_LINE and not line.endswith(("\n", "\r")):
            while (rest := self._text.readline(MAX_LINE)) and not rest.endswith(("\n", "\r")):
                pass
            raise _LongLine
        if not line:
            raise StopIteration
        return line

    def __next__(self) -> str:
        line = self.replay.popleft() if self.replay else self._read()
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


def read_table(text: TextIO, known_headers: Iterable[str]) -> Table:
    """Split decoded CSV text into a header and numbered rows (header is row 1), lazily.

    Rows that cannot be read come as (number, UnreadableRow) instead of cells: a quote that
    never closes on its own line and leaves the row with the wrong number of cells (it
    would swallow the rows after it), a NUL, bytes that are not in the file's encoding, a
    line past MAX_LINE. The rows after such a row are read from the line after it.
    """
    lines = _Lines(text)
    too_long = (f"row {{}}: the header is longer than {MAX_LINE:,} characters "
                f"(a member list has at most {MAX_COLUMNS} columns)")  # fmt: skip
    first_line = ""
    try:
        for line in lines:  # blank lines before the header are read again by the csv reader
            if line.strip():
                first_line = line
                break
    except _LongLine as exc:
        raise UnreadableFile(too_long.format(len(lines.record) + 1)) from exc
    lines.replay.extend(lines.record)
    lines.record = []
    delimiter = _pick_delimiter(first_line, known_headers)

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
    except _LongLine as exc:
        raise UnreadableFile(too_long.format(header_row + 1)) from exc
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
            except _LongLine:
                cells, error = [], f"a line in it is longer than {MAX_LINE:,} characters"
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


def open_table(
    stream: BinaryIO, known_headers: Iterable[str], encoding: Encoding | None = None
) -> Table:
    """read_table over a binary file, its encoding sniffed first unless already known."""
    if encoding is None:
        encoding = sniff(stream)
    return read_table(open_text(stream, encoding), known_headers)
