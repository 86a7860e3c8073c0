"""Member CSV import: messy real-world files, upserts, rejections, all-or-nothing."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from textbank.db import session_scope
from textbank.members.importer import NotAMemberList, import_members
from textbank.models import Local, Member

MESSY = (
    "\ufeffFirst,LASTNAME, Cell Phone ,E-mail,Local Number,Work Site,Preferred Language,"
    "Member Status,Tags,Shoe Size\r\n"
    'Ana,Rivera,(617) 555-0101,ANA@EXAMPLE.ORG,Local 1199,"Boston Medical Center, Ward 4",'
    "Spanish,Retired,Captain; GOTV 2026 ,9\r\n"
    "Luis,Chen,617.555.0102,,26,Logan Airport,en,active,,10\r\n"
    "Bad,Phone,555-1234,,26,,,,,\r\n"
    ",,,,,,,,,\r\n"
    '"Pat","O\'Brien",+1 212 555 0103,pat@example.org,2-A,"Central ""High""\nAnnex",pt-BR,'
    "member,,\r\n"
    "No,Phone,,x@example.org,26,,,,,\r\n"
    "Ana,Rivera,6175550101,,1199,,,,retiree volunteer,\r\n"
    "Bad,Email,617-555-0104,not-an-email,26,,,,,\r\n"
)


def _import(sessions, data: bytes | str):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with session_scope(sessions) as session:
        return import_members(session, data)


def _member(sessions, phone: str) -> Member:
    with session_scope(sessions) as session:
        member = session.scalar(select(Member).where(Member.phone == phone))
        assert member is not None, phone
        _ = member.tags, member.local
        return member


def test_messy_file_imports_with_counts_and_row_numbers(sessions):
    result = _import(sessions, MESSY)
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    assert result.duplicates == 1
    assert [(r.row, r.reason) for r in result.rejected] == [
        (4, "invalid phone '555-1234'"),
        (7, "missing phone"),
    ]
    # A bad email costs the email, not the member.
    assert result.to_dict()["warnings"] == [
        {"row": 9, "warning": "invalid email 'not-an-email': imported without it"}
    ]
    assert _member(sessions, "+16175550104").email is None
    assert result.ignored_columns == ["Shoe Size"]

    ana = _member(sessions, "+16175550101")
    assert (ana.first_name, ana.last_name, ana.email) == ("Ana", "Rivera", "ana@example.org")
    assert ana.local.number == "1199"
    assert ana.worksite == "Boston Medical Center, Ward 4"
    assert (ana.language, ana.status) == ("es", "retiree")
    assert ana.tags == ["captain", "gotv 2026", "retiree volunteer"]  # merged duplicate row

    pat = _member(sessions, "+12125550103")
    assert (pat.first_name, pat.last_name) == ("Pat", "O'Brien")
    assert pat.worksite == 'Central "High" Annex'
    assert (pat.language, pat.status, pat.local.number) == ("pt", "active", "2-A")


def test_reimport_counts_updated_and_unchanged_and_keeps_data(sessions):
    _import(
        sessions,
        "phone,first_name,email,local\n6175550101,Ana,ana@example.org,1199\n6175550102,Luis,,26\n",
    )
    result = _import(
        sessions,
        "cell,first,email,tags\n6175550101,Ana,,\n6175550102,Luiz,,steward\n6175550105,New,,\n",
    )
    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    ana = _member(sessions, "+16175550101")
    assert ana.email == "ana@example.org"  # an empty cell never erases
    assert ana.local.number == "1199"
    luis = _member(sessions, "+16175550102")
    assert (luis.first_name, luis.tags) == ("Luiz", ["steward"])


def test_import_never_resubscribes_an_opted_out_member(sessions):
    _import(sessions, "phone,first_name\n6175550101,Ana\n")
    stopped = datetime(2026, 11, 1, tzinfo=UTC)
    with session_scope(sessions) as session:
        member = session.scalar(select(Member))
        member.opted_out_at, member.opt_out_source = stopped, "sms_keyword"
    result = _import(sessions, "phone,first_name,opted_out,status\n6175550101,Ana,no,active\n")
    assert result.unchanged == 1
    member = _member(sessions, "+16175550101")
    assert member.opted_out_at == stopped and member.opted_out


def test_locals_created_on_first_sight_once(sessions):
    _import(sessions, "phone,local\n6175550101,Local 1199\n6175550102,1199\n6175550103,local #26\n")
    with session_scope(sessions) as session:
        locals_ = session.execute(select(Local.number, Local.name).order_by(Local.number)).all()
    assert [tuple(r) for r in locals_] == [("1199", "Local 1199"), ("26", "Local 26")]


def test_semicolon_delimited_windows_1252_export(sessions):
    data = "Prénom;Nom;Mobile;Local\r\nJosé;Núñez;617 555 0106;103\r\n".encode("cp1252")
    data = data.replace("Prénom".encode("cp1252"), b"First")
    result = _import(sessions, data)
    assert result.created == 1
    member = _member(sessions, "+16175550106")
    assert (member.first_name, member.local.number) == ("José", "103")


def test_utf16_excel_unicode_text(sessions):
    data = "phone\tfirst_name\n6175550107\tMei\n".encode("utf-16")
    assert _import(sessions, data).created == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00binary", "binary"),
        (b"name,email\nAna,ana@example.org\n", "no phone column"),
        (b"phone,first_name\n", "no member rows"),
    ],
)
def test_not_a_member_list_writes_nothing(sessions, data, message):
    with pytest.raises(NotAMemberList, match=message):
        _import(sessions, data)
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 0
        assert session.scalar(select(func.count()).select_from(Local)) == 0


def test_failure_midway_leaves_nothing_half_written(sessions):
    """A database error after some rows were inserted rolls the whole import back."""
    data = b"phone,local,tags\n6175550101,1199,ok\n6175550102,26,\n"
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        import_members(session, data)
        raise RuntimeError("the process died before commit")
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 0
        assert session.scalar(select(func.count()).select_from(Local)) == 0


def test_single_name_column_is_split(sessions):
    _import(sessions, 'Name,Mobile\n"Rivera, Ana",6175550108\nLuis Chen,6175550109\n')
    assert (
        _member(sessions, "+16175550108").first_name,
        _member(sessions, "+16175550108").last_name,
    ) == ("Ana", "Rivera")
    assert _member(sessions, "+16175550109").last_name == "Chen"
