"""Group commit for the reply webhook: replies arriving together are kept by one statement.

Each request still waits until its reply is committed before Twilio is answered (nothing
answered is ever lost); what changes is that the requests in flight at the same moment
share the statement, the commit (one WAL flush) and the Redis round trip that hands the new
ids to the workers. There is no timer: a reply that arrives while nothing is being written
is written at once (a batch of one), and the replies that arrive while a write is in flight
go together in the next one. So a quiet webhook answers as fast as before, and a burst
costs PostgreSQL, Redis and the web process a fraction of a round trip per reply.

The writer is whichever waiting request comes first (no thread of its own): threads and
gevent's greenlets alike.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Engine

from textbank.replies.store import store

log = logging.getLogger(__name__)

MOST = 100  # replies per statement: bounds the statement and the first waiter's latency


class _Reply:
    __slots__ = ("done", "error", "inbound_id", "lead", "now", "params")

    def __init__(self, params: Mapping[str, str], now: datetime) -> None:
        self.params, self.now = params, now
        self.done = threading.Event()
        self.lead = False  # woken to write the next batch rather than with a result
        self.inbound_id: int | None = None
        self.error: BaseException | None = None


# One shape whatever the batch's size (psycopg prepares it once per connection), and one
# JSON document for the whole batch: psycopg's dumping of text arrays escapes each element
# with a regular expression, which cost the web process more than the rest of the request.
INSERT_MANY = (
    "INSERT INTO inbound_messages (twilio_sid, from_phone, to_phone, body, params, created_at) "
    "SELECT r.sid, r.from_phone, r.to_phone, r.body, r.params, r.created_at "
    "FROM json_to_recordset(%s::json) AS r(sid text, from_phone text, to_phone text, "
    "body text, params json, created_at timestamptz) "
    "ON CONFLICT (twilio_sid) DO NOTHING RETURNING id, twilio_sid"
)


class GroupStore:
    """Keeps replies (one INSERT … ON CONFLICT per batch) and hands new ids to `handed`."""

    def __init__(self, engine: Engine, handed: Callable[[list[int]], None]) -> None:
        self.engine, self.handed = engine, handed
        self._lock = threading.Lock()
        self._pending: list[_Reply] = []
        self._busy = False

    def store(self, params: Mapping[str, str], now: datetime) -> int | None:
        """The reply's id once it is committed and handed on; None when Twilio is retrying
        one we already have. Raises what writing it raised."""
        reply = _Reply(params, now)
        with self._lock:
            self._pending.append(reply)
            leads = not self._busy
            self._busy = True
        if not leads:
            reply.done.wait()
            leads = reply.lead
        if leads:
            self._write_next()
        if reply.error is not None:
            raise reply.error
        return reply.inbound_id

    def _write_next(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:MOST], self._pending[MOST:]
        try:
            self._write(batch)
        except BaseException as exc:  # every waiter gets it
            for reply in batch:
                reply.error = exc
        finally:
            with self._lock:
                if self._pending:  # the first of those who came meanwhile writes next
                    self._pending[0].lead = True
                    self._pending[0].done.set()
                else:
                    self._busy = False
            for reply in batch:
                reply.done.set()

    def _write(self, batch: list[_Reply]) -> None:
        try:
            ids = self._insert(batch)
        except Exception:
            if len(batch) == 1:
                raise
            # One reply the database refuses must not fail the others: each on its own.
            log.warning("a batch of %d replies failed; storing them one by one", len(batch))
            ids = []
            for reply in batch:
                try:
                    ids += self._insert([reply])
                except Exception as exc:  # that request answers 500
                    reply.error = exc
        if ids:
            try:
                self.handed(ids)
            except Exception:
                # Stored: the sweep finds replies nobody acted on and queues them again.
                log.warning("replies %s: not handed to the workers; the sweep will pick them "
                            "up", ids, exc_info=True)  # fmt: skip

    def _insert(self, batch: list[_Reply]) -> list[int]:
        """Store the batch, committed; sets each reply's id and returns the new ones."""
        if self.engine.dialect.name == "postgresql":
            rows = self._insert_postgresql(batch)
        else:
            rows = []
            with self.engine.connect() as conn:
                for reply in batch:
                    inbound_id = store(conn, reply.params, reply.now)
                    if inbound_id is not None:
                        rows.append((inbound_id, reply.params["MessageSid"]))
                conn.commit()
        by_sid = dict((sid, inbound_id) for inbound_id, sid in rows)
        for reply in batch:
            # The same SID twice in one batch (Twilio retrying at once): the first keeps it.
            reply.inbound_id = by_sid.pop(reply.params["MessageSid"], None)
        return [inbound_id for inbound_id, _ in rows]

    def _insert_postgresql(self, batch: list[_Reply]) -> list[tuple[int, str]]:
        rows = json.dumps([
            {"sid": p["MessageSid"], "from_phone": p.get("From", ""), "to_phone": p.get("To"),
             "body": p.get("Body", ""), "params": p, "created_at": reply.now.isoformat()}
            for reply in batch
            for p in (reply.params,)
        ])  # fmt: skip
        raw = self.engine.raw_connection()  # the autocommit pool: committed as it returns
        try:
            driver = raw.driver_connection
            assert driver is not None
            return driver.execute(INSERT_MANY, (rows,), prepare=True).fetchall()
        finally:
            raw.close()
