"""Members in the browser: upload with a mapping step, search, a member's page, edit, locals."""

import re

import pytest
from blast_helpers import run_queue, seed
from console_helpers import csrf, make_user, post, sign_in
from sqlalchemy import select

from textbank.db import session_scope
from textbank.members.importer import import_members
from textbank.members.search import SearchFilter, search_members
from textbank.models import AuditEvent, Campaign, Local, Member, OptOutEvent

VAN_EXPORT = (
    "VANID,FirstName,LastName,CellPhone,Email,zip_code,Local Union,Shift\n"
    "101,Ana,Rivera,617-555-0101,ana@example.org,2139,Local 1199,nights\n"
    "102,Luis,Chen,617-555-0102,not-an-email,02139-4307,#1199,days\n"
    "103,Bad,Phone,555-1234,,02139,26,days\n"
    "104,Mei,Okafor,617-555-0104,,02140,1199,days\n"
)


@pytest.fixture
def manager(client, sessions):
    make_user(sessions, "boss@example.org", "manager")
    assert sign_in(client, "boss@example.org").status_code == 302


def _upload(client, data: str, name: str = "van-export.csv"):
    import io

    page = client.get("/members/import")
    return client.post(
        "/members/import",
        data={"file": (io.BytesIO(data.encode()), name), "csrf_token": csrf(page.text)},
        content_type="multipart/form-data",
    )


def test_upload_recognises_columns_asks_for_the_rest_and_imports_in_a_job(
    client, sessions, settings, manager
):
    uploaded = _upload(client, VAN_EXPORT)
    assert uploaded.status_code == 302
    mapping_url = uploaded.headers["Location"]
    page = client.get(mapping_url).text
    # VANID, CellPhone, zip_code, Local Union are recognised; Shift is for the manager to map.
    row = r'<th scope="row">([^<]+?) (?:<span[^>]*>recognised</span>)?</th>\s*<td>.*?'
    selected = dict(re.findall(row + r'<option value="(\w*)" selected', page, re.S))
    assert selected == {"VANID": "external_id", "FirstName": "first_name",
                        "LastName": "last_name", "CellPhone": "phone", "Email": "email",
                        "zip_code": "zip_code", "Local Union": "local"}  # fmt: skip
    assert "Shift" in page and "nights" in page  # sample values shown

    no_phone = {f"col-{i}": f for i, f in enumerate(["external_id", "first_name", "", "", "", "",
                                                       "local", "tags"])}  # fmt: skip
    refused = client.post(mapping_url, data={**no_phone, "csrf_token": csrf(page)})
    assert refused.status_code == 400 and "phone" in refused.text
    fields = ["external_id", "first_name", "last_name", "phone", "email", "zip_code", "local",
              "tags"]  # fmt: skip
    form = {f"col-{i}": f for i, f in enumerate(fields)}
    confirmed = client.post(mapping_url, data={**form, "csrf_token": csrf(page)})
    assert confirmed.status_code == 302
    waiting = client.get(mapping_url).text
    assert "Importing" in waiting and 'http-equiv="refresh"' in waiting
    with session_scope(sessions) as session:
        assert session.scalar(select(Member.id).limit(1)) is None  # not inside the request

    run_queue(settings)
    result = client.get(mapping_url).text
    counts = dict(re.findall(r'data-count="(\w+)">([\d,]+)<', result))
    assert counts == {"created": "3", "updated": "0", "unchanged": "0", "duplicates": "0",
                      "rejected": "1"}  # fmt: skip
    assert "Row 3: invalid email" in result  # Luis imported without his email
    rejected = client.get(mapping_url + "/rejected.csv")
    assert rejected.text.splitlines() == [
        "row,reason,VANID,FirstName,LastName,CellPhone,Email,zip_code,Local Union,Shift",
        "4,invalid phone '555-1234',103,Bad,Phone,555-1234,,02139,26,days",
    ]
    with session_scope(sessions) as session:
        ana = session.scalar(select(Member).where(Member.phone == "+16175550101"))
        assert (ana.external_id, ana.zip_code, ana.tags) == ("101", "02139", ["nights"])
        luis = session.scalar(select(Member).where(Member.phone == "+16175550102"))
        assert luis.email is None and luis.local_id == ana.local_id  # "#1199" is Local 1199
        locals_ = session.execute(select(Local.number, Local.name)).all()
        assert [tuple(r) for r in locals_] == [("1199", "Local 1199")]
        assert session.scalar(select(AuditEvent.action)) == "members.import"


def test_a_file_that_is_not_csv_is_refused_at_upload(client, manager):
    refused = _upload(client, "\x00\x01binary", "list.xlsx")
    assert refused.status_code == 400 and "not a CSV" in refused.text


def test_zz_is_not_a_language(sessions):
    with session_scope(sessions) as session:
        result = import_members(session, b"phone,language\n6175550101,zz\n6175550102,es\n")
    assert [(r.row, r.reason) for r in result.rejected] == [
        (2, "unknown language 'zz' (use a code such as en, es, pt)")
    ]


def _seed_people(sessions):
    with session_scope(sessions) as session:
        import_members(session, (
            b"first_name,last_name,phone,local,status\n"
            b"Ana,Rivera,617-555-0101,1199,active\nAna,Smith,617-555-0102,26,retiree\n"
            b"Luis,Rivas,617-555-0103,1199,active\nMei,Chen,617-555-0199,26,active\n"
        ))  # fmt: skip


def _names(sessions, **kw) -> list[str]:
    with session_scope(sessions) as session:
        found = search_members(session, SearchFilter(**kw)).members
        return [f"{m.first_name} {m.last_name}" for m in found]


def test_search_by_name_phone_and_filters(sessions):
    _seed_people(sessions)
    assert _names(sessions, q="ana") == ["Ana Rivera", "Ana Smith"]
    assert _names(sessions, q="riv") == ["Luis Rivas", "Ana Rivera"]  # by last name
    assert _names(sessions, q="ana riv") == ["Ana Rivera"]
    assert _names(sessions, q="RIVERA") == ["Ana Rivera"]
    assert _names(sessions, q="(617) 555-0199") == ["Mei Chen"]
    assert _names(sessions, q="0103") == ["Luis Rivas"]
    assert _names(sessions, q="ana", local="26") == ["Ana Smith"]
    assert _names(sessions, q="a", status="retiree") == ["Ana Smith"]
    assert _names(sessions, q="a%") == []  # a wildcard is a letter, not "anything"


def test_members_page_searches_and_rejects_too_few_digits(client, sessions, manager):
    _seed_people(sessions)
    page = client.get("/members?q=riv")
    assert page.status_code == 200 and "Ana Rivera" in page.text and "Mei Chen" not in page.text
    assert client.get("/members?q=12").status_code == 200  # 2 digits: a name search, no match
    short = client.get("/members?q=555")
    assert short.status_code == 400 and "at least 4 digits" in short.text


def test_member_page_timeline_edit_and_opt_in_only_with_a_reason(
    client, sessions, settings, manager, auth, live_blast
):
    member_id = live_blast
    page = client.get(f"/members/{member_id}").text
    for expected in ("Texted", "Hi Ana!", "Replied: answered a keyword", "Outcome: pledged to vote",
                     "GOTV Nov"):  # fmt: skip
        assert expected in page, expected

    edit = post(client, f"/members/{member_id}/edit", {
        "first_name": "Ana", "last_name": "Rivera-Diaz", "phone": "617-555-0101",
        "email": "bad", "language": "es", "status": "active", "local": "1199",
    })  # fmt: skip
    assert edit.status_code == 400 and "invalid email" in edit.text
    edit = post(client, f"/members/{member_id}/edit", {
        "first_name": "Ana", "last_name": "Rivera-Diaz", "phone": "617-555-0101",
        "email": "", "language": "es", "status": "active", "local": "1199", "tags": "captain",
    })  # fmt: skip
    assert edit.status_code == 302

    out = post(client, f"/members/{member_id}/opt-out", {"reason": "asked at the door"},
               page=f"/members/{member_id}")  # fmt: skip
    assert out.status_code == 302
    no_reason = post(client, f"/members/{member_id}/opt-in", {"reason": ""},
                     page=f"/members/{member_id}")  # fmt: skip
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
    back = post(client, f"/members/{member_id}/opt-in", {"reason": "signed a new consent card"},
                page=f"/members/{member_id}")  # fmt: skip
    assert back.status_code == 302
    page = client.get(f"/members/{member_id}").text
    assert "Rivera-Diaz" in page and "captain" in page
    assert "Opted back in" in page and "signed a new consent card" in page
    assert "by a manager (boss@example.org)" in page
    with session_scope(sessions) as session:
        events = session.execute(
            select(OptOutEvent.kind, OptOutEvent.source, OptOutEvent.reason)
            .where(OptOutEvent.member_id == member_id).order_by(OptOutEvent.id)
        ).all()  # fmt: skip
    assert [tuple(e) for e in events] == [
        ("opt_out", "console", "asked at the door"),
        ("opt_in", "console", "signed a new consent card"),
    ]


def test_member_timeline_shows_calls_and_volunteers_messages(client, sessions, manager):
    from datetime import timedelta

    from textbank.models import Call, Conversation, OutboundMessage, User, utcnow

    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    volunteer_id = make_user(sessions, "vol@example.org", "volunteer")
    now = utcnow()
    with session_scope(sessions) as session:
        ana = session.scalar(select(Member))
        voice = Campaign(name="Vote call", kind="gotv", channel="voice", message="",
                         status="completed")  # fmt: skip
        redial = Campaign(name="Second call", kind="gotv", channel="voice", message="",
                          status="completed")  # fmt: skip
        blast = Campaign(name="Rally blast", kind="gotv", message="Hi", status="completed")
        session.add_all([voice, redial, blast])
        session.flush()
        session.add_all([
            Call(campaign_id=voice.id, member_id=ana.id, phone=ana.phone, language="en",
                 status="completed", answered_by="human", digits="1", seconds=42,
                 placed_at=now - timedelta(hours=3), answered_at=now - timedelta(hours=3)),
            Call(campaign_id=redial.id, member_id=ana.id, phone=ana.phone, language="en",
                 status="no-answer", placed_at=now - timedelta(hours=4)),
        ])  # fmt: skip
        session.add(OutboundMessage(campaign_id=blast.id, member_id=ana.id, phone=ana.phone,
                                    body="Hi Ana", language="en", status="delivered",
                                    sent_at=now - timedelta(hours=2)))  # fmt: skip
        talk = Conversation(member_id=ana.id, campaign_id=blast.id)
        session.add(talk)
        session.flush()
        session.add(OutboundMessage(
            campaign_id=blast.id, member_id=ana.id, phone=ana.phone, conversation_id=talk.id,
            volunteer_id=volunteer_id, body="The rally starts at 6 <sharp>", language="en",
            status="delivered", sent_at=now - timedelta(hours=1),
        ))  # fmt: skip
        assert session.get(User, volunteer_id).email == "vol@example.org"
        member_id = ana.id
    page = client.get(f"/members/{member_id}").text
    history = page[page.index('id="timeline-h"') :]
    entries = re.findall(r'<li class="(\w+)">(.*?)</li>', history, re.S)
    kinds = [kind for kind, _ in entries]
    # Newest first: the volunteer's message, the blast's text, the answered call, the missed one.
    assert kinds == ["message", "text", "call", "call"]
    message, text, answered, missed = (body for _, body in entries)
    assert "A volunteer wrote (vol@example.org)" in message and "Rally blast" in message
    assert "The rally starts at 6 &lt;sharp&gt;" in message  # escaped like every member text
    assert "Texted" in text and "Hi Ana" in text
    assert "Called" in answered and "Vote call" in answered
    assert "answered, 42 s; pressed 1" in answered
    assert "no answer" in missed and "Second call" in missed


@pytest.fixture
def live_blast(client, sessions, settings, auth):
    """Ana texted by a campaign through the real pipeline (sandbox), who answered YES."""
    from blast_helpers import seed as seed_members

    seed_members(sessions, [("Ana", "617-555-0101", "1199", "en")])
    with session_scope(sessions) as session:
        member = session.scalar(select(Member))
        from textbank.models import Campaign, InboundMessage, OutboundMessage, Outcome, utcnow

        now = utcnow()
        campaign = Campaign(name="GOTV Nov", kind="gotv", message="Hi {first_name}!",
                            status="completed", keywords={"YES": "pledged_to_vote"})  # fmt: skip
        session.add(campaign)
        session.flush()
        session.add(OutboundMessage(campaign_id=campaign.id, member_id=member.id,
                                    phone=member.phone, body="Hi Ana!", language="en",
                                    status="delivered", sent_at=now))  # fmt: skip
        reply = InboundMessage(twilio_sid="SM" + "1" * 32, from_phone=member.phone, body="YES",
                               member_id=member.id, campaign_id=campaign.id,
                               classification="keyword", created_at=now)  # fmt: skip
        session.add(reply)
        session.flush()
        session.add(
            Outcome(member_id=member.id, campaign_id=campaign.id, name="pledged_to_vote",
                    source="sms_keyword", created_at=now)
        )  # fmt: skip
        return member.id


def test_locals_rename_and_merge(client, sessions, settings, manager):
    seed(sessions, [("Ana", "6175550101", "1199", "en"), ("Luis", "6175550102", "SEIU 1199", "en")])
    with session_scope(sessions) as session:
        ids = dict(session.execute(select(Local.number, Local.id)).all())
        names = dict(session.execute(select(Local.number, Local.name)).all())
    assert names == {"1199": "Local 1199", "SEIU 1199": "SEIU 1199"}
    with session_scope(sessions) as session:
        session.add(
            Campaign(name="Draft", kind="gotv", message="Hi", audience={"locals": ["SEIU 1199"]})
        )
    renamed = post(client, f"/locals/{ids['1199']}", {"name": "1199SEIU Healthcare Workers"},
                   page="/locals")  # fmt: skip
    assert renamed.status_code == 302
    merged = post(client, "/locals/merge", {"source": ids["SEIU 1199"], "target": ids["1199"]},
                  page="/locals")  # fmt: skip
    # A job moves the members (a local can have a union's hundreds of thousands), not the
    # request: a page shows its progress, then that it is done.
    assert merged.status_code == 302
    status = client.get(merged.headers["Location"])
    assert "Moving the members of SEIU 1199" in status.text and "1 to go" in status.text
    assert 'http-equiv="refresh"' in status.text
    with session_scope(sessions) as session:
        assert session.get(Local, ids["SEIU 1199"]) is not None
    run_queue(settings)
    done = client.get(merged.headers["Location"]).text
    assert "<h2>Merged</h2>" in done and "1 moved" in done and 'http-equiv="refresh"' not in done
    same = post(client, "/locals/merge", {"source": ids["1199"], "target": ids["1199"]},
                page="/locals")  # fmt: skip
    assert same.status_code == 400 and "two different" in same.text
    with session_scope(sessions) as session:
        assert session.execute(select(Local.number, Local.name)).all() == [
            ("1199", "1199SEIU Healthcare Workers")
        ]
        assert {m.local_id for m in session.scalars(select(Member))} == {ids["1199"]}
        assert session.scalar(select(Campaign.audience)) == {"locals": ["1199"]}
    page = client.get("/locals").text
    assert "1199SEIU Healthcare Workers" in page


def test_missing_pages_are_styled_and_api_stays_json(client, manager):
    page = client.get("/members/999999")
    assert page.status_code == 404 and "Page not found" in page.text
    assert 'name="viewport"' in page.text
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404 and api.is_json


def test_an_unexpected_error_is_a_styled_500(app):
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    page = app.test_client().get("/boom-for-test")
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert "boom" not in page.text
