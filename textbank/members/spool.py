"""An uploaded file kept in the database in parts, written and read back a part at a time.

The web process that takes the upload and the worker that imports it may run on different
machines (the Procfile's `web` and `worker` on a Heroku-style platform share no disk), so the
file waits in the database; in parts of 256 KiB, so that neither ever holds it whole (a
part costs about four times its size on its way through the driver, hex-escaped).
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from textbank.members.csvfile import Encoding, Sniffer
from textbank.models import Upload, UploadPart

PART = 256 * 1024
_ERRORS = {"utf-16": "strict", "utf-8-sig": "surrogateescape", "cp1252": "replace"}


def store(session: Session, upload: Upload, pieces: Iterable[bytes]) -> Encoding:
    """Write the file's bytes as parts of the upload, deciding its encoding on the way.

    Raises UnreadableFile as soon as the bytes show the file is not text (a binary file at
    its first 64 KB), before the rest is read.
    """
    sniffer = Sniffer()
    seq, part = 0, bytearray()

    def flush(size: int) -> None:
        nonlocal seq
        data = bytes(part[:size])
        del part[:size]
        session.execute(insert(UploadPart), [{"upload_id": upload.id, "seq": seq, "data": data}])
        seq += 1

    for piece in pieces:
        sniffer.feed(piece)
        part += piece
        while len(part) >= PART:
            flush(PART)
    if part:
        flush(len(part))
    encoding = sniffer.finish()
    upload.encoding, upload.rows_total = encoding.codec, max(encoding.lines - 1, 0)
    return encoding


def encoding_of(upload: Upload) -> Encoding | None:
    """The encoding decided when the file was stored (None: stored before it was kept)."""
    if upload.encoding is None:
        return None
    return Encoding(upload.encoding, _ERRORS[upload.encoding], upload.rows_total + 1)


class _Parts(io.RawIOBase):
    """The upload's parts as one readable, rewindable file; one part in memory at a time."""

    def __init__(self, session: Session, upload_id: int) -> None:
        self._session, self._upload_id = session, upload_id
        self._seq, self._part, self._at = 0, b"", 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) not in ((0, io.SEEK_SET), (0, io.SEEK_CUR)):
            raise io.UnsupportedOperation("parts rewind to their start only")
        if whence == io.SEEK_SET:
            self._seq, self._part, self._at = 0, b"", 0
        return 0

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override,unused-ignore]
        if self._at >= len(self._part):
            data = self._session.scalar(
                select(UploadPart.data).where(
                    UploadPart.upload_id == self._upload_id, UploadPart.seq == self._seq
                )
            )
            if data is None:
                return 0
            self._seq, self._part, self._at = self._seq + 1, bytes(data), 0
        n = min(len(buffer), len(self._part) - self._at)
        buffer[:n] = self._part[self._at : self._at + n]
        self._at += n
        return n


def open_parts(session: Session, upload_id: int) -> io.BufferedReader:
    """The stored file, read a part at a time through the caller's session."""
    return io.BufferedReader(_Parts(session, upload_id), buffer_size=64 * 1024)


def discard(session: Session, upload_id: int) -> None:
    """Delete the file's parts (imported, or failed for good)."""
    session.execute(delete(UploadPart).where(UploadPart.upload_id == upload_id))
