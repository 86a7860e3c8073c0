"""Imports stream (issue 13 §3): memory follows a chunk of rows, never the file.

The CLI reads the file a piece at a time; the API spools a large body to the database a
part at a time and its job reads the parts back the same way, then deletes them.
"""

from __future__ import annotations

import builtins
import io
import json
import tracemalloc

from sqlalchemy import event, func, select

from textbank.db import session_scope
from textbank.members import importer, spool, uploads
from textbank.models import Member, UploadPart, utcnow

HEADER = b"first_name,last_name,phone,email,worksite,local,tags\n"
WIDE = b"first_name,last_name,phone,local,notes\n"


def _wide(count: int, start: int = 0) -> bytes:
    """Rows with a long column the import ignores: megabytes of file, few phones to check."""
    note = "n" * 1400
    return WIDE + b"".join(
        f"Member{i},Lastname{i},+1617{2_000_000 + i:07d},1199,{note}\n".encode()
        for i in range(start, start + count)
    )


def _rows(count: int, start: int = 0) -> bytes:
    return b"".join(
        (
            f"Member{i},Lastname{i},+1617{2_000_000 + i:07d},member{i}@example.org,"
            f"Boston Medical Center Ward {i % 40},1199,steward;gotv\n"
        ).encode()
        for i in range(start, start + count)
    )


def _count(sessions, what) -> int:
    with session_scope(sessions) as session:
        return session.scalar(select(func.count()).select_from(what))


def _peak(run) -> int:
    """The most memory Python held at once while `run` ran, beyond what it held before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_the_cli_import_holds_a_chunk_not_the_file(runner, sessions, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 500)
    path = tmp_path / "members.csv"
    path.write_bytes(_wide(8_000))
    size = path.stat().st_size
    assert size > 11_000_000
    warm = tmp_path / "warm.csv"  # first-use costs (statement caches, imports) come first
    warm.write_bytes(_wide(500, 90_000))
    assert runner.invoke(args=["members", "import", str(warm)]).exit_code == 0
    outcome = {}

    def run():
        outcome["out"] = runner.invoke(args=["members", "import", str(path), "--json"])

    peak = _peak(run)
    print(f"cli peak {peak:,} for {size:,}")
    out = outcome["out"]
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["created"] == 8_000
    assert _count(sessions, Member) == 8_500
    # Read whole, the file alone is `size` bytes (and its text as much again).
    assert peak < size / 2, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_a_large_api_import_is_spooled_in_parts_and_its_job_holds_a_chunk(
    client, auth, settings, sessions, tmp_path, monkeypatch
):
    from blast_helpers import run_queue

    monkeypatch.setattr(importer, "CHUNK", 500)
    path = tmp_path / "members.csv"
    path.write_bytes(_wide(8_000))
    size = path.stat().st_size
    warm = client.post("/api/v1/members/import", data=_wide(500, 90_000), headers=auth,
                       content_type="text/csv")  # fmt: skip
    assert warm.status_code == 200, warm.data  # first-use costs come before the measure
    warm = client.post("/api/v1/members/import", data=_wide(1000, 80_000), headers=auth,
                       content_type="text/csv")  # fmt: skip
    assert warm.status_code == 202, warm.data  # and those of the job's way
    answers = {}

    def post():
        with path.open("rb") as body:
            answers["queued"] = client.post(
                "/api/v1/members/import", input_stream=body, content_length=size,
                headers=auth, content_type="text/csv",
            )  # fmt: skip

    request_peak = _peak(post)
    queued = answers["queued"]
    assert queued.status_code == 202, queued.data
    assert request_peak < size / 2, f"request peak {request_peak:,} for {size:,} bytes"
    upload_id = queued.get_json()["id"]
    with session_scope(sessions) as session:
        parts = session.scalars(
            select(func.length(UploadPart.data)).where(UploadPart.upload_id == upload_id)
        ).all()
    assert len(parts) == -(-size // spool.PART) and max(parts) == spool.PART
    assert sum(parts) == size

    job_peak = _peak(lambda: run_queue(settings))
    print(f"request peak {request_peak:,} job peak {job_peak:,} for {size:,}")
    done = client.get(queued.get_json()["url"], headers=auth).get_json()
    assert done["status"] == "done", done
    assert done["result"]["created"] == 8_000 and _count(sessions, Member) == 9_500
    assert job_peak < size / 2, f"job peak {job_peak:,} for {size:,} bytes"
    # Imported: the file is gone from the database.
    assert _count(sessions, UploadPart) == 0


class _Recorder:
    """A Redis stand-in that keeps the job's progress notes."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, int]] = []
        self.parts_read = 0

    def set(self, key, value, ex=None):
        self.notes.append((value, self.parts_read))


def test_the_import_job_reports_progress_before_it_has_read_the_file(
    client, auth, sessions, monkeypatch
):
    monkeypatch.setattr(importer, "CHUNK", 1000)
    data = HEADER + _rows(25_000)
    queued = client.post("/api/v1/members/import", data=data, headers=auth,
                         content_type="text/csv")  # fmt: skip
    assert queued.status_code == 202, queued.data
    upload_id = queued.get_json()["id"]
    parts = _count(sessions, UploadPart)
    assert parts >= 3
    recorder = _Recorder()
    engine = sessions.kw["bind"]

    def count_part_reads(conn, cursor, statement, params, context, many):
        if "FROM upload_parts" in statement:
            recorder.parts_read += 1

    event.listen(engine, "before_cursor_execute", count_part_reads)
    try:
        assert uploads.run(sessions, upload_id, recorder, utcnow()) == "done"
    finally:
        event.remove(engine, "before_cursor_execute", count_part_reads)
    notes = recorder.notes
    assert len(notes) >= 25
    first, parts_read_then = notes[0]
    done, total = map(int, first.split("/"))
    assert done == 1000 and total >= 25_000
    assert parts_read_then < parts, "the first progress came only after the whole file"
    assert notes[-1][0] == "25000/25000"
    dones = [int(n.split("/")[0]) for n, _ in notes]
    assert dones == sorted(dones)


class _CountingFile(io.FileIO):
    read_bytes = 0

    def read(self, size=-1):
        data = super().read(size)
        _CountingFile.read_bytes += len(data)
        return data

    def readinto(self, buffer):
        n = super().readinto(buffer)
        _CountingFile.read_bytes += n or 0
        return n


def test_a_binary_file_is_refused_by_the_cli_from_its_first_64_kb(
    runner, sessions, tmp_path, monkeypatch
):
    path = tmp_path / "members.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100 + b"x" * (3 * 1024 * 1024))
    _CountingFile.read_bytes = 0

    def counting_open(name, mode="r", *args, **kwargs):
        if str(name) == str(path):
            assert "b" in mode
            return io.BufferedReader(_CountingFile(name, "r"))
        return builtins.open(name, mode, *args, **kwargs)

    monkeypatch.setattr("textbank.cli.members.open", counting_open, raising=False)
    out = runner.invoke(args=["members", "import", str(path)])
    assert out.exit_code == 2 and "binary" in out.output
    assert 0 < _CountingFile.read_bytes <= 128 * 1024


def test_the_encoding_is_decided_by_bytes_anywhere_in_the_file(runner, sessions, tmp_path):
    """A Windows-1252 row early and UTF-8 accents only past the first chunks and MiB: the
    file is UTF-8, the early row is rejected by number, never stored as mojibake."""
    path = tmp_path / "members.csv"
    rows = _rows(20_000)
    path.write_bytes(
        HEADER + b"Mar\xeda,Soto,+16175550103,,,1199,\n" + rows
        + "José,Pérez,+16175550101,,,1199,\n".encode()
    )  # fmt: skip
    assert len(rows) > 2 * 1024 * 1024
    out = runner.invoke(args=["members", "import", str(path), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert [r["row"] for r in result["rejected"]] == [2]
    assert "not UTF-8" in result["rejected"][0]["reason"]
    with session_scope(sessions) as session:
        names = dict(session.execute(select(Member.phone, Member.first_name)).all())
    assert names["+16175550101"] == "José" and "+16175550103" not in names

    # The same early row in a file without UTF-8 anywhere: Windows-1252, and it imports.
    path.write_bytes(HEADER + b"Mar\xeda,Soto,+16175550103,,,1199,\n" + rows)
    out = runner.invoke(args=["members", "import", str(path), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["rejected"] == []
    with session_scope(sessions) as session:
        maria = session.scalar(select(Member.first_name).where(Member.phone == "+16175550103"))
    assert maria == "María"


def test_duplicates_and_changes_across_chunks_count_as_in_one_read(
    runner, sessions, tmp_path, monkeypatch
):
    monkeypatch.setattr(importer, "CHUNK", 100)
    path = tmp_path / "members.csv"
    path.write_bytes(HEADER + _rows(300))
    assert runner.invoke(args=["members", "import", str(path)]).exit_code == 0
    # Member 0 unchanged in the first chunk then renamed 250 rows on; member 1 twice the
    # same; a new phone in the first chunk and again, with a tag, in the last.
    again = HEADER + _rows(2) + b"Newcomer,One,+16179999999,,,1199,\n" + _rows(250, 2)
    again += b"Renamed,Lastname0,+16172000000,,,,\n" + _rows(1, 1)
    again += b",,+16179999999,,,,captain\n"
    path.write_bytes(again)
    out = runner.invoke(args=["members", "import", str(path), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 1, 251)
    assert result["duplicates"] == 3
    with session_scope(sessions) as session:
        assert session.scalar(select(Member.first_name).where(Member.phone == "+16172000000")) == (
            "Renamed"
        )
        newcomer = session.scalar(select(Member).where(Member.phone == "+16179999999"))
        assert newcomer is not None and newcomer.first_name == "Newcomer"
        assert set(newcomer.tags) == {"captain"}


def test_a_browser_upload_waits_in_parts_and_its_mapping_page_reads_only_its_start(
    client, sessions, settings, monkeypatch
):
    from blast_helpers import run_queue
    from console_helpers import csrf, make_user, sign_in

    make_user(sessions, "boss@example.org", "manager")
    assert sign_in(client, "boss@example.org").status_code == 302
    data = HEADER + _rows(25_000)
    page = client.get("/members/import")
    uploaded = client.post(
        "/members/import",
        data={"file": (io.BytesIO(data), "big.csv"), "csrf_token": csrf(page.text)},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302, uploaded.text
    parts = _count(sessions, UploadPart)
    assert parts == -(-len(data) // spool.PART) >= 3
    reads = []
    engine = sessions.kw["bind"]

    def count_part_reads(conn, cursor, statement, params, context, many):
        if "FROM upload_parts" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count_part_reads)
    try:
        mapping = client.get(uploaded.headers["Location"])
    finally:
        event.remove(engine, "before_cursor_execute", count_part_reads)
    assert mapping.status_code == 200 and "Member0" in mapping.text
    assert len(reads) == 1, "the preview read more than the first part"
    fields = ["first_name", "last_name", "phone", "email", "worksite", "local", "tags"]
    form = {f"col-{i}": f for i, f in enumerate(fields)}
    confirmed = client.post(
        uploaded.headers["Location"], data={**form, "csrf_token": csrf(mapping.text)}
    )
    assert confirmed.status_code == 302
    run_queue(settings)
    assert _count(sessions, Member) == 25_000
    assert _count(sessions, UploadPart) == 0
