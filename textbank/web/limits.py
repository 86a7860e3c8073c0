"""Request size limits: how much any request may make the app read and parse."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from flask import Flask, Request, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

DEFAULT_MAX_BYTES = 1024 * 1024  # every JSON body and console form fits with room
UPLOAD_MAX_BYTES = 200 * 1024 * 1024  # a 500,000-member CSV fits with room; only after sign-in
SPOOL_BYTES = 1024 * 1024  # an upload past this waits on disk, not in memory
UPLOAD_FORM_MEMORY = 1024 * 1024  # what the multipart parser may hold at once for an upload
# Twilio posts about 30 fields (60 with ten pictures) and a 1,600-character body at most.
WEBHOOK_MAX_BYTES, WEBHOOK_MAX_FIELDS = 64 * 1024, 200
LOGIN_MAX_BYTES, LOGIN_MAX_FIELDS = 16 * 1024, 16


class BoundedRequest(Request):
    """Flask's request, whose uploaded files always spool to disk past SPOOL_BYTES.

    Werkzeug keeps a file part in memory whenever the request has no Content-Length
    (chunked uploads): 200 MB in memory per upload.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None) -> IO[bytes]:  # fmt: skip
        return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)


def _bounded_form(max_bytes: int, max_fields: int) -> None:
    """Refuse (413) a body past max_bytes or max_fields before anything parses it."""
    request.max_content_length = max_bytes
    request.max_form_parts = max_fields
    if request.method != "POST":
        return
    # Reading is bounded by max_content_length whatever the transfer encoding; the parsed
    # form is then built from these cached bytes.
    body = request.get_data(cache=True)
    if len(body) >= max_bytes:
        abort(413, f"the request body is larger than {max_bytes} bytes")
    if request.mimetype == "application/x-www-form-urlencoded" and body.count(b"&") >= max_fields:
        abort(413, f"the form has more than {max_fields} fields")


# Console endpoints that take a file in a form (CSRF reads the form before the view runs):
# for a signed-in manager they accept UPLOAD_MAX_BYTES; for anyone else, the default.
UPLOAD_ENDPOINTS: set[str] = {"members.uploads", "optouts.upload"}


def _apply_limits() -> None:
    # Twilio's webhooks and the sign-in form are open to anyone: they get the small limits.
    if request.path.startswith("/twilio/"):
        _bounded_form(WEBHOOK_MAX_BYTES, WEBHOOK_MAX_FIELDS)
    elif request.path == "/login":
        _bounded_form(LOGIN_MAX_BYTES, LOGIN_MAX_FIELDS)
    elif request.endpoint in UPLOAD_ENDPOINTS:
        from textbank.web.auth import MANAGERS, current_user

        user = current_user()
        if user is not None and user.role in MANAGERS:
            request.max_content_length = UPLOAD_MAX_BYTES
            # Werkzeug's multipart parser counts the bytes it holds while it looks for the
            # next boundary against this limit, file parts included: at the app's 64 KB
            # every file past about 64 KB was refused (413) in the browser.
            request.max_form_memory_size = UPLOAD_FORM_MEMORY


def upload_body() -> IO[bytes]:
    """The uploaded file as upload_pieces gives it, spooled to disk past SPOOL_BYTES."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
    try:
        for piece in upload_pieces():
            spool.write(piece)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def upload_pieces() -> Iterator[bytes]:
    """The uploaded file (a multipart `file`, else the raw body) in pieces, as it arrives.

    The first piece is 64 KB (a binary file is refused there), the others 256 KiB. Call it
    only after the caller is authenticated: it raises the body limit to UPLOAD_MAX_BYTES.
    A body that reaches the limit is refused with 413, never cut short, whether it came with
    a Content-Length or chunked.
    """
    request.max_content_length = UPLOAD_MAX_BYTES
    too_large = f"uploads are limited to {UPLOAD_MAX_BYTES // (1024 * 1024)} MiB"
    try:
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None:
                abort(400, "a multipart upload needs a part named file")
            stream = upload.stream
        else:
            stream = request.stream
        size, want = 0, 64 * 1024
        while chunk := stream.read(want):
            size += len(chunk)
            if size >= UPLOAD_MAX_BYTES:
                abort(413, too_large)
            yield chunk
            want = 256 * 1024
    except RequestEntityTooLarge:
        abort(413, too_large)


def init_app(app: Flask) -> None:
    """Install the limits; call it before anything (CSRF) reads a form."""
    app.request_class = BoundedRequest
    app.config.update(
        MAX_CONTENT_LENGTH=DEFAULT_MAX_BYTES, MAX_FORM_PARTS=100, MAX_FORM_MEMORY_SIZE=64 * 1024
    )
    app.before_request(_apply_limits)
