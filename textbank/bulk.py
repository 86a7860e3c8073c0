"""Bulk inserts: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def bulk_insert(session: Session, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows inside the session's transaction.

    PostgreSQL gets COPY, an order of magnitude faster than multi-row INSERTs for
    hundreds of thousands of rows; other backends get a plain executemany.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        dbapi_conn = connection.connection.driver_connection
        if dbapi_conn is None:
            raise RuntimeError("connection closed before COPY")
        cols = ", ".join(columns)
        with dbapi_conn.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
