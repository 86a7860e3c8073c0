"""Opt-outs in the browser, and STOP/START/HELP answered in the member's own language."""

import html
import io
import re

import pytest
from blast_helpers import inbound, run_queue, seed, signed_post
from console_helpers import csrf, make_user, post, sign_in
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Member, OptOutEvent


@pytest.fixture
def manager(client, sessions):
    make_user(sessions, "boss@example.org", "manager")
    assert sign_in(client, "boss@example.org").status_code == 302


def _answer(client, settings, phone: str, body: str) -> str | None:
    response = signed_post(client, settings, "/twilio/sms", inbound(phone, body))
    assert response.status_code == 200
    found = re.search(r"<Message>(.*?)</Message>", response.get_data(as_text=True), re.S)
    return html.unescape(found.group(1)) if found else None


def test_suppression_list_keeps_its_reason_and_the_ledger_shows_who_and_how(
    client, sessions, settings, manager
):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    data = b"Phone Number,Reason\n617-555-0101,asked at a union meeting\n617-555-0177,lawyer\nxx,\n"
    page = client.get("/opt-outs")
    sent = client.post(
        "/opt-outs/import",
        data={"file": (io.BytesIO(data), "dnc.csv"), "csrf_token": csrf(page.text)},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    run_queue(settings)
    status = client.get(sent.headers["Location"]).text
    counts = dict(re.findall(r'data-count="(\w+)">([\d,]+)<', status))
    assert counts == {"added": "2", "already": "0", "rejected": "1"}
    ledger = client.get("/opt-outs").text
    assert "asked at a union meeting" in ledger and "from a suppression list" in ledger
    assert "boss@example.org" in ledger and "2 phone number(s) are opted out" in ledger
    found = client.get("/opt-outs?q=Ana").text
    assert "asked at a union meeting" in found and "lawyer" not in found
    by_phone = client.get("/opt-outs?q=555-0177").text
    assert "lawyer" in by_phone and "asked at a union meeting" not in by_phone
    export = client.get("/opt-outs.csv").text.splitlines()
    assert export[0] == "phone,member_id,kind,source,text,reason,at"
    first = "+16175550101,1,opt_out,suppression_list,,asked at a union meeting,"
    assert export[1].startswith(first)


def test_stop_start_help_answer_in_the_members_language(client, sessions, settings):
    languages = {"6175550101": "es", "6175550102": "zh", "6175550103": "en", "6175550104": "ko"}
    seed(sessions, [("Someone", phone, "1199", lang) for phone, lang in languages.items()])
    org = settings.org_name
    assert _answer(client, settings, "+16175550101", "STOP") == (
        f"Se dio de baja de los mensajes de {org} y no recibirá más. Responda START para volver."
    )
    assert _answer(client, settings, "+16175550101", "START").startswith("Volvió a inscribirse")
    assert _answer(client, settings, "+16175550102", "HELP").startswith(f"{org}：您的工会")  # noqa: RUF001
    assert _answer(client, settings, "+16175550103", "HELP").startswith(f"{org}: texts from")
    assert _answer(client, settings, "+16175550104", "STOP").startswith("You are unsubscribed")
    assert _answer(client, settings, "+16175550199", "HELP").startswith(f"{org}: texts from")


def test_an_organization_changes_the_wording_in_the_browser(client, sessions, settings, manager):
    seed(sessions, [("Ana", "617-555-0101", "1199", "es")])
    no_stop = post(client, "/settings/replies", {"help-es": "Somos el sindicato."})
    assert no_stop.status_code == 400 and "must say how to STOP" in no_stop.text
    saved = post(client, "/settings/replies",
                 {"opt_out-es": "{org}: baja confirmada. Responda START para volver."})  # fmt: skip
    assert saved.status_code == 302
    assert _answer(client, settings, "+16175550101", "STOP") == (
        f"{settings.org_name}: baja confirmada. Responda START para volver."
    )
    assert "confirmations.edit" in client.get("/audit").text
    cleared = post(client, "/settings/replies", {"opt_out-es": ""})
    assert cleared.status_code == 302
    _answer(client, settings, "+16175550101", "START")
    assert _answer(client, settings, "+16175550101", "STOP").startswith("Se dio de baja")


def test_opt_outs_page_lists_member_stops_with_their_words(client, sessions, settings, manager):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    _answer(client, settings, "+16175550101", "stop texting me")
    page = client.get("/opt-outs?kind=opt_out").text
    assert "“stop texting me”" in page and "by text" in page
    with session_scope(sessions) as session:
        member = session.scalar(select(Member))
        event = session.scalar(select(OptOutEvent))
        assert (event.member_id, event.source) == (member.id, "sms_keyword")
