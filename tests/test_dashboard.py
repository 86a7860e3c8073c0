"""The managers' dashboard: sign-in, roles, CSRF, escaping, CSV, and its own queries."""

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from blast_helpers import seed
from dashboard_helpers import add_campaign, add_outcome, add_reply, add_text
from sqlalchemy import select, text

from textbank import create_app
from textbank.accounts import create_user
from textbank.db import session_scope
from textbank.engagement.marks import Step, mark
from textbank.models import Local, Member, User
from textbank.reports.dashboard import error_breakdown, timeline
from textbank.twilio.codes import MessageStatus
from textbank.web import database

PASSWORD = "correct horse battery"
ANA, LUIS, ROSA, MEI, WEI = (f"+1617555010{i}" for i in range(1, 6))
DAY = date(2026, 3, 10)  # a fixed day, so the timeline tests never straddle midnight


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def users(sessions):
    with session_scope(sessions) as session:
        for role in ("manager", "volunteer", "admin"):
            create_user(session, f"{role}@example.org", role, PASSWORD)


@pytest.fixture
def blast(sessions):
    """Four members of Local 1199 and one of Local 26, one campaign, as the pipeline leaves it."""
    seed(
        sessions,
        [
            ("Ana", ANA, "1199", "en"),
            ("Luis", LUIS, "1199", "en"),
            ("Rosa", ROSA, "1199", "en"),
            ("Mei", MEI, "1199", "en"),
            ("Wei", WEI, "26", "en"),
        ],
    )
    now = datetime.now(UTC)
    with session_scope(sessions) as session:
        m = {x.phone: x for x in session.scalars(select(Member))}
        campaign = add_campaign(session)
        for phone in (ANA, LUIS):
            add_text(
                session, campaign, m[phone], MessageStatus.DELIVERED, sent_at=now, delivered_at=now
            )
        add_text(session, campaign, m[ROSA], MessageStatus.UNDELIVERED, 30003, sent_at=now)
        add_text(session, campaign, m[WEI], MessageStatus.FAILED, 21211)
        add_reply(session, campaign, m[ANA], "keyword")
        add_reply(session, campaign, m[LUIS], "conversation", body="what time?")
        add_outcome(session, campaign, m[ANA], "pledged_to_vote")
        add_outcome(session, campaign, m[LUIS], "volunteer")
        # The per-local report reads each member's engagement firsts, as the pipeline sets them.
        ids = {phone: member.id for phone, member in m.items()}
        for step, phones in [
            (Step.TEXTED, (ANA, LUIS, ROSA)),
            (Step.DELIVERED, (ANA, LUIS)),
            (Step.FAILED, (ROSA, WEI)),
            (Step.REPLIED, (ANA, LUIS)),
            (Step.ACTED, (ANA,)),
            (Step.VOLUNTEERED, (LUIS,)),
        ]:
            mark(session, [ids[p] for p in phones], step, now)
        return campaign.id


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _sign_in(client, email, password=PASSWORD, next_=None):
    page = client.get("/login" + (f"?next={next_}" if next_ else ""))
    data = {"email": email, "password": password, "csrf_token": _csrf(page.text)}
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data)


def _cell(html: str, local: str, col: str) -> str:
    row = re.search(rf'<tr data-local="{re.escape(local)}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'data-col="{col}">([^<]*)<', row).group(1)


def _step(html: str, campaign_id: int, step: str) -> str:
    card = re.search(rf'data-campaign-id="{campaign_id}">(.*?)</article>', html, re.S).group(1)
    return re.search(rf'data-step="{step}">([^<]*)<', card).group(1)


def test_anonymous_visitors_are_sent_to_sign_in(client):
    assert client.get("/").location == "/dashboard"
    for path, target in [
        ("/dashboard", "/dashboard"),
        ("/dashboard?local=26", "/dashboard?local=26"),
        ("/dashboard/engagement.csv?by=local", "/dashboard/engagement.csv?by=local"),
    ]:
        response = client.get(path)
        assert response.status_code == 302
        assert urlsplit(response.location).path == "/login"
        assert parse_qs(urlsplit(response.location).query)["next"] == [target]
        assert client.get(response.location).status_code == 200
    assert "Sign in" in client.get("/login?next=/dashboard").text


def test_a_volunteer_signs_in_to_the_console_and_is_refused_the_dashboard(client, users):
    response = _sign_in(client, "volunteer@example.org")
    assert response.status_code == 302
    assert response.location == "/volunteer"  # their own console, not the managers' dashboard
    refused = client.get("/dashboard")
    assert refused.status_code == 403
    assert "The dashboard is for managers" in refused.text
    assert client.get("/dashboard/engagement.csv?by=local").status_code == 403


@pytest.mark.parametrize(
    "email, password", [("manager@example.org", "wrong password"), ("nobody@example.org", PASSWORD)]
)
def test_wrong_credentials_say_the_same_thing_and_sign_nobody_in(client, users, email, password):
    response = _sign_in(client, email, password)
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert client.get("/dashboard").status_code == 302


def test_a_post_without_csrf_token_is_refused(client, users):
    response = client.post("/login", data={"email": "manager@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "Form expired" in response.text
    assert client.get("/dashboard").status_code == 302
    assert _sign_in(client, "manager@example.org").status_code == 302
    assert client.post("/logout").status_code == 400  # signing out is a CSRF-checked form too
    assert client.get("/dashboard").status_code == 200


def test_manager_signs_in_sees_the_numbers_and_signs_out(client, users, blast):
    response = _sign_in(client, "manager@example.org", next_="/dashboard")
    assert response.status_code == 302 and response.location == "/dashboard"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.text
    expected = {
        "members": "4",
        "texted": "3",
        "delivered": "2",
        "replied": "2",
        "acted": "1",
        "volunteers": "1",
        "opted_out": "0",
    }
    assert {col: _cell(html, "1199", col) for col in expected} == expected
    assert (_cell(html, "26", "members"), _cell(html, "26", "texted")) == ("1", "0")
    assert (_cell(html, "TOTAL", "members"), _cell(html, "TOTAL", "texted")) == ("5", "3")
    # 2 of 4 members had a conversation: half of the 100% goal.
    assert 'aria-label="Conversations: 50% of goal"' in html
    funnel = {
        s: _step(html, blast, s) for s in ("texted", "delivered", "replied", "acted", "volunteers")
    }
    assert funnel == {
        "texted": "3",
        "delivered": "2",
        "replied": "2",
        "acted": "1",
        "volunteers": "1",
    }
    assert re.search(
        r'data-code="30003"><td>30003</td><td>The phone is off or out of coverage'
        r"</td><td class=\"num\">1<",
        html,
    )
    assert 'src="/static/vendor/chart.umd.min.js"' in html and "https://" not in html
    assert client.get("/static/vendor/chart.umd.min.js").status_code == 200

    one_local = client.get("/dashboard?local=26").text
    assert 'data-local="26"' in one_local and 'data-local="1199"' not in one_local
    bad = client.get("/dashboard?campaign=abc")
    assert bad.status_code == 400 and "campaign must be a campaign id" in bad.text

    logout = client.post("/logout", data={"csrf_token": _csrf(html)})
    assert logout.status_code == 302 and logout.location == "/login"
    assert client.get("/dashboard").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
    ],
)
def test_sign_in_never_redirects_off_site(client, users, target):
    response = _sign_in(client, "manager@example.org", next_=target)
    assert response.status_code == 302 and response.location == "/dashboard"


def test_sign_in_returns_to_the_page_asked_for(client, users):
    response = _sign_in(client, "admin@example.org", next_="/dashboard?local=26")
    assert response.location == "/dashboard?local=26"


def test_a_deactivated_manager_is_signed_out_on_the_next_request(client, users, sessions):
    _sign_in(client, "manager@example.org")
    assert client.get("/dashboard").status_code == 200
    with session_scope(sessions) as session:
        session.scalar(select(User).where(User.email == "manager@example.org")).active = False
    assert client.get("/dashboard").status_code == 302


def test_campaign_and_local_names_are_escaped(client, users, blast, sessions):
    name = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
    with session_scope(sessions) as session:
        campaign = add_campaign(session, name)
        add_text(
            session,
            campaign,
            session.scalar(select(Member).where(Member.phone == ANA)),
            MessageStatus.DELIVERED,
            sent_at=datetime.now(UTC),
        )
        session.scalar(select(Local).where(Local.number == "26")).name = "<b>Local 26</b>"
    _sign_in(client, "manager@example.org")
    html = client.get("/dashboard").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;img src=x" in html
    assert "&lt;b&gt;Local 26&lt;/b&gt;" in html


def test_csv_download(client, users, blast, sessions):
    with session_scope(sessions) as session:
        formula, mei = (
            add_campaign(session, "=HYPERLINK(1)"),
            session.scalar(select(Member).where(Member.phone == MEI)),
        )
        add_text(session, formula, mei, MessageStatus.SENT, sent_at=datetime.now(UTC))
        mark(session, [mei.id], Step.TEXTED, datetime.now(UTC))
    _sign_in(client, "manager@example.org")
    response = client.get("/dashboard/engagement.csv?by=local")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment; filename=engagement-by-local.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0])[:9] == [
        "local",
        "members",
        "texted",
        "delivered",
        "failed",
        "replied",
        "acted",
        "volunteers",
        "opted_out",
    ]
    assert [(r["local"], r["members"], r["texted"], r["delivered"]) for r in rows] == [
        ("1199", "4", "4", "2"),
        ("26", "1", "0", "0"),
        ("TOTAL", "5", "4", "2"),
    ]
    by_campaign = client.get("/dashboard/engagement.csv?by=campaign").text
    rows = list(csv.DictReader(io.StringIO(by_campaign)))
    assert [(r["campaign"], r["texted"], r["replied"]) for r in rows] == [
        ("GOTV Nov 3", "3", "2"),
        ("'=HYPERLINK(1)", "1", "0"),
        ("TOTAL", "4", "2"),
    ]
    assert client.get("/dashboard/engagement.csv?by=worksite").status_code == 400


def test_error_breakdown_counts_each_code_with_its_meaning(sessions):
    seed(
        sessions, [(f"M{i}", f"+1617555020{i}", "1199" if i < 5 else "26", "en") for i in range(8)]
    )
    with session_scope(sessions) as session:
        members = list(session.scalars(select(Member).order_by(Member.id)))
        first, second = add_campaign(session, "one"), add_campaign(session, "two")
        for member, code in zip(members[:5], (30007, 30007, 21211, None, 30007), strict=True):
            status = MessageStatus.DELIVERED if code is None else MessageStatus.FAILED
            add_text(session, first, member, status, code)
        for member, code in zip(members[5:], (30007, 99999, 21211), strict=True):
            add_text(session, second, member, MessageStatus.UNDELIVERED, code)
        session.flush()
        assert error_breakdown(session) == [
            {
                "code": 30007,
                "count": 4,
                "meaning": "Filtered by the carrier as spam (check 10DLC registration and wording)",
            },
            {"code": 21211, "count": 2, "meaning": "Not a valid phone number"},
            {"code": 99999, "count": 1, "meaning": "Twilio error 99999"},
        ]
        assert [(r["code"], r["count"]) for r in error_breakdown(session, first.id)] == [
            (30007, 3),
            (21211, 1),
        ]
        assert [(r["code"], r["count"]) for r in error_breakdown(session, local="26")] == [
            (21211, 1),
            (30007, 1),
            (99999, 1),
        ]


def test_timeline_buckets_by_utc_day_within_the_range(sessions):
    seed(sessions, [("Ana", ANA, "1199", "en"), ("Luis", LUIS, "26", "en")])
    yesterday = DAY - timedelta(days=1)
    with session_scope(sessions) as session:
        ana, luis = session.scalars(select(Member).order_by(Member.id))
        gotv, other = add_campaign(session, "gotv"), add_campaign(session, "other")
        add_reply(session, gotv, ana, "keyword", _at(yesterday, 23, 59))
        add_reply(session, gotv, luis, "conversation", _at(DAY, 0, 1))
        add_reply(session, gotv, ana, "conversation", _at(DAY, 12), body="and you?")
        add_reply(session, gotv, luis, "opt_out", _at(DAY, 13), body="STOP")  # not a conversation
        add_reply(session, gotv, None, "conversation", _at(DAY, 14))  # not a member
        add_reply(session, other, ana, "conversation", _at(DAY, 15), body="other")
        add_reply(session, gotv, ana, "conversation", _at(DAY - timedelta(days=3), 9), body="old")
        add_reply(session, gotv, ana, "conversation", _at(DAY + timedelta(days=1), 0), body="late")
        add_outcome(session, gotv, ana, "pledged_to_vote", _at(yesterday, 23, 30))
        add_outcome(session, gotv, luis, "volunteer", _at(DAY, 8))
        add_outcome(session, gotv, luis, "signed_petition", _at(DAY, 9))
        session.flush()
        if session.get_bind().dialect.name == "postgresql":
            # Days are UTC days whatever zone the database session runs in.
            session.execute(text("SET LOCAL TIME ZONE 'Pacific/Honolulu'"))

        days = timeline(session, days=2, end=DAY)
        assert days == [
            {"day": yesterday, "replies": 1, "actions": 1, "volunteers": 0},
            {"day": DAY, "replies": 3, "actions": 1, "volunteers": 1},
        ]
        assert [d["replies"] for d in timeline(session, 2, gotv.id, end=DAY)] == [1, 2]
        assert [d["replies"] for d in timeline(session, 2, local="26", end=DAY)] == [0, 1]
        month = timeline(session, end=DAY)
        assert len(month) == 30 and month[0]["day"] == DAY - timedelta(days=29)
        assert sum(d["replies"] for d in month) == 5  # the "old" reply too; never the late one
        assert timeline(session, days=1)[0]["day"] == datetime.now(UTC).date()


def test_session_cookie_is_secure_outside_development(settings):
    app = create_app(replace(settings, env="production"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["WTF_CSRF_ENABLED"] is True
    database.dispose(app)
