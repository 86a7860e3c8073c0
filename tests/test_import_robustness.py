"""Imports never lose or garble rows silently (issue 13 §3): CLI and API alike."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from textbank.db import session_scope
from textbank.members.csvfile import MAX_COLUMNS
from textbank.models import Member

HEADER = b"first_name,last_name,phone,local\n"


def _good_rows(count: int, start: int = 200) -> bytes:
    return b"".join(
        f"Member{i},Last{i},+1617{2_000_000 + start + i:07d},1199\n".encode() for i in range(count)
    )


def _names(sessions) -> dict[str, str]:
    with session_scope(sessions) as session:
        return dict(session.execute(select(Member.phone, Member.first_name)).all())


@pytest.fixture(params=["cli", "api"])
def importer(request, runner, client, auth, tmp_path):
    """Import bytes through the CLI or the API: (exit/status ok?, result dict or error)."""

    def run(data: bytes):
        if request.param == "cli":
            path = tmp_path / "members.csv"
            path.write_bytes(data)
            out = runner.invoke(args=["members", "import", str(path), "--json"])
            if out.exit_code == 0:
                return 200, json.loads(out.stdout)
            return (400 if out.exit_code == 2 else 500), out.output
        response = client.post("/api/v1/members/import", data=data, headers=auth,
                               content_type="text/csv")  # fmt: skip
        body = response.get_json()
        return response.status_code, body if response.status_code == 200 else body["error"]

    return run


def test_a_stray_quote_rejects_its_row_and_the_rows_after_it_import(importer, sessions):
    data = HEADER + b'"Ana,Rivera,+16175550101,1199\n' + _good_rows(50)
    status, result = importer(data)
    assert status == 200, result
    assert result["created"] == 50
    assert [r["row"] for r in result["rejected"]] == [2]
    assert "unbalanced quote" in result["rejected"][0]["reason"]
    assert len(_names(sessions)) == 50


def test_a_stray_quote_closed_by_a_later_quoted_cell_swallows_nothing(importer, sessions):
    later = b'"Bob",Stone,+16172999999,1199\n'
    data = HEADER + b'"Ana,Rivera,+16175550101,1199\n' + _good_rows(5) + later + _good_rows(5, 500)
    status, result = importer(data)
    assert status == 200, result
    assert result["created"] == 11 and [r["row"] for r in result["rejected"]] == [2]


def test_a_quoted_cell_over_lines_still_imports(importer, sessions):
    data = HEADER + b'"Ana\nMaria",Rivera,+16175550101,1199\n' + _good_rows(3)
    status, result = importer(data)
    assert status == 200 and result["created"] == 4 and result["rejected"] == []


def test_one_bad_byte_never_turns_utf8_names_into_mojibake(importer, sessions):
    first = HEADER + "José,Pérez,+16175550101,1199\n".encode()
    assert importer(first)[0] == 200
    # The same José, a new member, and one row saved in Windows-1252 (0xED is "í").
    again = HEADER + "José,Pérez,+16175550101,1199\nZoë,Li,+16175550102,1199\n".encode()
    again += b"Mar\xeda,Soto,+16175550103,1199\n"
    status, result = importer(again)
    assert status == 200, result
    assert [r["row"] for r in result["rejected"]] == [4]
    assert "not UTF-8" in result["rejected"][0]["reason"]
    assert _names(sessions) == {"+16175550101": "José", "+16175550102": "Zoë"}


def test_a_windows_1252_file_still_reads_as_one(importer, sessions):
    status, result = importer(HEADER + b"Mar\xeda,Soto,+16175550103,1199\n")
    assert status == 200 and result["created"] == 1
    assert _names(sessions) == {"+16175550103": "María"}


def test_a_nul_in_a_row_past_the_first_64_kb_rejects_that_row(importer, sessions):
    data = HEADER + _good_rows(3000) + b"Nu\x00l,Byte,+16175550101,1199\n"
    assert len(data) > 65536
    status, result = importer(data)
    assert status == 200, result
    assert result["created"] == 3000
    assert [r["row"] for r in result["rejected"]] == [3002]
    assert "NUL" in result["rejected"][0]["reason"]


@pytest.mark.parametrize(("data", "words"), [
    (b"first_name," + b"x" * 200_000 + b",phone\nAna,a,+16175550101\n", "header"),
    (b"phone," + b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n+16175550101\n",
     f"at most {MAX_COLUMNS}"),
    (b"first_name,phone\x00\nAna,+16175550101\n", "binary"),
])  # fmt: skip
def test_headers_past_the_limits_are_a_clear_refusal(importer, sessions, data, words):
    status, error = importer(data)
    assert status == 400, error
    assert words in error
    assert _names(sessions) == {}


def test_a_large_api_import_is_a_job_to_poll(client, auth, settings, sessions):
    from blast_helpers import run_queue

    data = HEADER + b'"Ana,Rivera,+16175550101,1199\n' + _good_rows(40_000)
    assert len(data) > 1024 * 1024
    queued = client.post("/api/v1/members/import", data=data, headers=auth,
                         content_type="text/csv")  # fmt: skip
    assert queued.status_code == 202, queued.data
    url = queued.get_json()["url"]
    assert queued.headers["Location"] == url
    assert client.get(url, headers=auth).get_json()["status"] == "queued"
    run_queue(settings)
    done = client.get(url, headers=auth).get_json()
    assert done["status"] == "done", done
    assert done["result"]["created"] == 40_000
    assert [r["row"] for r in done["result"]["rejected"]] == [2]
    assert done["rows_done"] == done["rows_total"] == 40_000
    assert len(_names(sessions)) == 40_000


def test_a_binary_upload_is_refused_from_its_first_64_kb(client, auth):
    data = b"PK\x03\x04" + b"\x00" * 100 + b"x" * (3 * 1024 * 1024)
    refused = client.post("/api/v1/members/import", data=data, headers=auth,
                          content_type="text/csv")  # fmt: skip
    assert refused.status_code == 400 and "binary" in refused.get_json()["error"]
