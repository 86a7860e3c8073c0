"""Peer-to-peer campaigns built in the manager's browser form: mode, batch size, reclaim
time, canned responses per language and the survey; the API reads back what the form
saved; bad values are refused beside their field with nothing written."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from blast_helpers import run_queue, seed
from sqlalchemy import func, select
from volunteer_helpers import MEMBERS, P2P_CAMPAIGN, volunteer

from textbank.accounts import create_user
from textbank.db import session_scope
from textbank.models import Campaign, OutboundMessage

PASSWORD = "a long and known password"
MANAGER = "lead@example.org"
CANNED = [
    {"title": "Where is it?", "text": "At the <union hall>, {first_name}: 10 AM.",
     "translations": {"es": "En el local sindical, {first_name}: 10 AM."}},
    {"title": "Parking", "text": "Free parking behind the hall.", "translations": {}},
]  # fmt: skip
SURVEY = {
    "question": "Are you coming Saturday?",
    "answers": [
        {"label": "Yes", "outcome": "attending", "next": "Great, {first_name}! See you."},
        {"label": "No", "outcome": "not_attending", "next": None},
    ],
}


class _Fields(HTMLParser):
    """What the campaign form would submit as it stands: its inputs, textareas, selects."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "campaign-form" in (a.get("class") or ""):
            self._in_form = True
        if not self._in_form or ("name" not in a and tag != "option"):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind != "submit":
                self.pairs.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.pairs.append((self._select, a.get("value", "")))

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None:
            self.pairs.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def form_fields(html: str) -> dict[str, str | list[str]]:
    parser = _Fields()
    parser.feed(html)
    out: dict[str, str | list[str]] = {}
    for name, value in parser.pairs:
        if name == "languages":
            out.setdefault(name, [])
            out[name].append(value)  # type: ignore[union-attr]
        else:
            out[name] = unescape(value)
    return out


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def manager(client, sessions):
    seed(sessions, MEMBERS)
    with session_scope(sessions) as session:
        create_user(session, MANAGER, "manager", PASSWORD)
    page = client.get("/login")
    client.post("/login", data={"email": MANAGER, "password": PASSWORD,
                                "csrf_token": _csrf(page.text)})  # fmt: skip
    return client


def _p2p_form(client, **changes) -> dict:
    """The new-campaign form as a manager fills it in: peer-to-peer, two canned responses
    (one in Spanish too), a survey of two answers."""
    data = {
        **form_fields(client.get("/campaigns/new").text),
        "name": "Rally <Saturday>", "kind": "volunteer", "mode": "p2p",
        "message": "Hi {first_name}, can you come Saturday? Reply YES",
        "translation_es": "Hola {first_name}, ¿vienes el sábado?", "locals": "1199",
        "kw_word_0": "YES", "kw_outcome_0": "attending",
        "batch_size": "25", "reclaim_minutes": "90",
        "canned_title_0": CANNED[0]["title"], "canned_text_0": CANNED[0]["text"],
        "canned_text_es_0": CANNED[0]["translations"]["es"],
        "canned_title_1": CANNED[1]["title"], "canned_text_1": CANNED[1]["text"],
        "survey_question": SURVEY["question"],
        "answer_label_0": "Yes", "answer_outcome_0": "attending",
        "answer_next_0": "Great, {first_name}! See you.",
        "answer_label_1": "No", "answer_outcome_1": "not_attending",
    }  # fmt: skip
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _created(response) -> int:
    assert response.status_code == 302, response.text
    return int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))


def _campaigns(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Campaign))


def _console(body: dict) -> dict:
    keys = ("mode", "batch_size", "reclaim_minutes", "volunteer_replies", "canned_responses",
            "survey")  # fmt: skip
    return {k: body[k] for k in keys}


def test_the_form_offers_the_mode_and_the_conversation_settings(manager):
    html = manager.get("/campaigns/new").text
    for label in ("Batch size (peer-to-peer)", "Reclaim time (minutes)",
                  "Title of canned response 1", "Canned response 1 in Spanish",
                  "Survey question", "Outcome of answer 1", "Next script line after answer 1",
                  "Volunteers may answer the replies"):  # fmt: skip
        assert label in html, label
    assert re.search(r'<input type="radio" name="mode" value="blast" checked', html)
    assert 'value="p2p"' in html and "volunteers send each first text" in html
    # Each input has the label that names it.
    names = ("batch_size", "reclaim_minutes", "canned_title_0", "canned_text_0",
             "survey_question", "answer_label_0", "answer_outcome_0", "answer_next_0")  # fmt: skip
    for name in names:
        assert f'for="f-{name}"' in html and f'id="f-{name}"' in html, name


def test_a_manager_creates_a_p2p_campaign_and_the_api_reads_the_same(manager, sessions, auth):
    campaign_id = _created(manager.post("/campaigns/new", data=_p2p_form(manager)))
    body = manager.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()
    assert _console(body) == {
        "mode": "p2p", "batch_size": 25, "reclaim_minutes": 90, "volunteer_replies": True,
        "canned_responses": CANNED, "survey": SURVEY,
    }  # fmt: skip
    page = manager.get(f"/campaigns/{campaign_id}").text
    assert "Peer-to-peer: volunteers send each first text" in page
    assert "25 first texts per volunteer at a time" in page and "90 minutes" in page
    assert "At the &lt;union hall&gt;, {first_name}: 10 AM." in page  # member text escaped
    assert "<union hall>" not in page
    assert "Are you coming Saturday?" in page and "not_attending" in page

    # The list tells the modes apart and filters by one.
    blast = {**P2P_CAMPAIGN, "mode": "blast", "name": "A plain blast"}
    assert manager.post("/api/v1/campaigns", json=blast, headers=auth).status_code == 201
    listed = manager.get("/campaigns?mode=p2p").text
    assert "Rally &lt;Saturday&gt;" in listed and "A plain blast" not in listed
    assert 'data-col="mode">peer-to-peer<' in listed
    assert "Rally" not in manager.get("/campaigns?mode=blast").text
    assert manager.get("/campaigns?mode=bulk").status_code == 400


def test_editing_in_the_form_changes_the_settings_and_keeps_the_rest(manager, sessions, auth):
    """A P2P campaign made through the API, saved from the edit form untouched, is the same
    campaign (the form once saved every campaign as a blast); then changed row by row."""
    api = {**P2P_CAMPAIGN, "reclaim_minutes": 45, "name": "Made by a program"}
    created = manager.post("/api/v1/campaigns", json=api, headers=auth)
    assert created.status_code == 201, created.get_json()
    campaign_id = created.get_json()["id"]
    before = _console(created.get_json())

    edit = manager.get(f"/campaigns/{campaign_id}/edit").text
    fields = form_fields(edit)
    assert fields["mode"] == "p2p" and fields["batch_size"] == "3"
    assert fields["canned_text_es_0"] == P2P_CAMPAIGN["canned_responses"][0]["translations"]["es"]
    saved = manager.post(f"/campaigns/{campaign_id}/edit", data=fields)
    assert saved.status_code == 302, saved.text
    after = manager.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()
    assert _console(after) == before
    assert after["translations"] == created.get_json()["translations"]

    # Remove the first canned response (the second moves up), change the batch size, drop
    # the survey's second answer, and turn the campaign into a blast managers answer alone.
    removed = manager.post(f"/campaigns/{campaign_id}/edit",
                           data={**fields, "rows": "remove_canned_0"})  # fmt: skip
    assert removed.status_code == 200
    fields = form_fields(removed.text)
    assert fields["canned_title_0"] == "Parking" and fields["canned_title_1"] == ""
    assert fields["keyword_rows"] == str(len(P2P_CAMPAIGN["keywords"]) + 4)
    fields.update(batch_size="50", answer_label_1="", answer_outcome_1="", answer_next_1="")
    assert manager.post(f"/campaigns/{campaign_id}/edit", data=fields).status_code == 302
    after = manager.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()
    assert after["batch_size"] == 50
    assert [c["title"] for c in after["canned_responses"]] == ["Parking"]
    assert [a["label"] for a in after["survey"]["answers"]] == ["Yes"]

    fields = form_fields(manager.get(f"/campaigns/{campaign_id}/edit").text)
    fields.update(mode="blast")
    fields.pop("volunteer_replies", None)  # unticked
    assert manager.post(f"/campaigns/{campaign_id}/edit", data=fields).status_code == 302
    after = manager.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()
    assert after["mode"] == "blast" and after["volunteer_replies"] is False
    assert "Managers only" in manager.get(f"/campaigns/{campaign_id}").text


def test_add_another_row_saves_nothing_and_focuses_the_new_row(manager, sessions):
    data = _p2p_form(manager, rows="add_canned")
    rows = int(data["canned_rows"])
    page = manager.post("/campaigns/new", data=data)
    assert page.status_code == 200 and _campaigns(sessions) == 0
    fields = form_fields(page.text)
    assert int(fields["canned_rows"]) == rows + 1
    assert fields["canned_title_0"] == "Where is it?"  # what was typed is kept
    assert re.search(rf'id="f-canned_title_{rows}"[^>]*autofocus', page.text)
    answers = manager.post("/campaigns/new", data={**fields, "rows": "add_answer"})
    assert int(form_fields(answers.text)["answer_rows"]) == int(fields["answer_rows"]) + 1


BAD = [
    ({"batch_size": "0"}, "batch_size", "Batch size must be a whole number from 1 to 1000"),
    ({"batch_size": "100000000000000000000"}, "batch_size", "from 1 to 1000, got 1000000"),
    ({"batch_size": "10^20"}, "batch_size", "Batch size must be a whole number, got '10^20'"),
    ({"reclaim_minutes": "-5"}, "reclaim_minutes",
     "Reclaim time (minutes) must be a whole number from 1 to 10080, got -5"),
    ({"canned_text_1": ""}, "canned_text_1", "Canned response 2: its text is required"),
    ({"canned_title_0": "", "canned_title_1": ""}, "canned_title_0",
     "Canned response 1: its title is required"),
    ({"canned_text_es_0": "Hola {nope}"}, "canned_text_es_0", "Canned response 1 in Spanish"),
    ({"canned_title_1": "x" * 81}, "canned_title_1", "is longer than 80 characters"),
    ({"canned_rows": "500"}, "canneds", "At most 100 canned responses"),
    ({"answer_outcome_1": "Not Attending"}, "answer_outcome_1",
     "Survey answer 2: its outcome must be a name like pledged_to_vote"),
    ({"survey_question": ""}, "survey_question", "The survey question is required"),
    ({"answer_label_0": "", "answer_outcome_0": "", "answer_next_0": "", "answer_label_1": "",
      "answer_outcome_1": ""}, "answer_label_0", "The survey needs at least one answer"),
    ({"answer_next_0": "See you {when}"}, "answer_next_0", "Survey answer 1: its next line"),
    ({"name": ""}, "name", "name is required"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_bad_values_are_refused_by_their_field(manager, sessions, changes, field, message):
    response = manager.post("/campaigns/new", data=_p2p_form(manager, **changes))
    assert response.status_code == 400, response.text[:500]
    html = unescape(response.text)
    beside = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', html)
    assert beside, f"no message by {field}: {html[:3000]}"
    assert message in beside.group(1)
    assert f'href="#f-{field}"' in html  # the message at the top leads to the field
    assert _campaigns(sessions) == 0  # nothing written


def test_many_thousand_rows_or_a_nul_byte_are_refused_by_the_field(manager, sessions):
    data = _p2p_form(manager, canned_rows="1000000000000000000000000")
    response = manager.post("/campaigns/new", data=data)
    assert response.status_code == 400 and 'id="e-canneds"' in response.text

    data = _p2p_form(manager, canned_text_0="Hello\x00there")
    response = manager.post("/campaigns/new", data=data)
    assert response.status_code == 400
    assert re.search(r'id="e-canned_text_0">canned_text_0: NUL characters are not allowed<',
                     response.text)  # fmt: skip
    assert "Hellothere" in response.text  # the rest of the form is kept, the NUL dropped
    assert _campaigns(sessions) == 0


def test_a_bad_edit_leaves_the_campaign_as_it_was(manager, sessions, auth):
    campaign_id = _created(manager.post("/campaigns/new", data=_p2p_form(manager)))
    before = manager.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()
    fields = form_fields(manager.get(f"/campaigns/{campaign_id}/edit").text)
    fields.update(name="Renamed", batch_size="0", canned_title_0="New title")
    response = manager.post(f"/campaigns/{campaign_id}/edit", data=fields)
    assert response.status_code == 400 and 'id="e-batch_size"' in response.text
    after = manager.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()
    assert after == before


def test_csrf_and_the_managers_role_are_checked(manager, sessions):
    data = _p2p_form(manager)
    assert manager.post("/campaigns/new", data={**data, "csrf_token": "forged"}).status_code == 400
    assert _campaigns(sessions) == 0

    volunteer(sessions, "vol@example.org")
    manager.post("/logout", data={"csrf_token": _csrf(manager.get("/campaigns").text)})
    page = manager.get("/login")
    manager.post("/login", data={"email": "vol@example.org", "password": PASSWORD,
                                 "csrf_token": _csrf(page.text)})  # fmt: skip
    csrf = _csrf(manager.get("/volunteer").text)
    refused = manager.post("/campaigns/new", data={**data, "csrf_token": csrf})
    assert refused.status_code == 403
    nul = manager.post("/campaigns/new", data={**data, "csrf_token": csrf, "name": "a\x00"})
    assert nul.status_code == 403 and "Rally" not in nul.text  # no form for a volunteer
    assert _campaigns(sessions) == 0


def test_launching_says_nothing_is_sent_and_the_page_shows_the_batches(manager, sessions, app):
    campaign_id = _created(manager.post("/campaigns/new", data=_p2p_form(manager, batch_size="2")))
    confirm = unescape(manager.get(f"/campaigns/{campaign_id}/launch").text)
    assert "Peer-to-peer: nothing is sent when you launch." in confirm
    assert "Launch now: open 6 members to volunteers" in confirm
    launched = manager.post(f"/campaigns/{campaign_id}/launch",
                            data={"csrf_token": _csrf(confirm)}, follow_redirects=True)  # fmt: skip
    assert "Launched: nothing is sent yet." in unescape(launched.text)
    run_queue(app.extensions["textbank.settings"])  # the launch job snapshots the audience
    with sessions() as session:
        statuses = set(session.scalars(select(OutboundMessage.status)))
    assert statuses == {"held"}  # nobody texted

    page = manager.get(f"/campaigns/{campaign_id}").text
    assert re.search(r'data-measure="p2p_waiting">\s*<dt>[^<]*</dt>\s*<dd>6<', page)
    assert 'href="/supervisor"' in page

    # A volunteer sees it in the console and takes a batch; the page counts it.
    volunteer(sessions, "ana.v@example.org")
    manager.post("/logout", data={"csrf_token": _csrf(page)})
    login = manager.get("/login")
    manager.post("/login", data={"email": "ana.v@example.org", "password": PASSWORD,
                                 "csrf_token": _csrf(login.text)})  # fmt: skip
    home = manager.get("/volunteer").text
    assert f'data-campaign-id="{campaign_id}"' in home and "Rally &lt;Saturday&gt;" in home
    taken = manager.post(f"/volunteer/campaigns/{campaign_id}/batch",
                         data={"csrf_token": _csrf(home)})  # fmt: skip
    assert taken.status_code in (200, 302), taken.text
    manager.post("/logout", data={"csrf_token": _csrf(manager.get("/volunteer").text)})
    login = manager.get("/login")
    manager.post("/login", data={"email": MANAGER, "password": PASSWORD,
                                 "csrf_token": _csrf(login.text)})  # fmt: skip
    page = manager.get(f"/campaigns/{campaign_id}").text
    assert re.search(r'data-measure="p2p_in_batches">\s*<dt>[^<]*</dt>\s*<dd>2<', page)
    assert re.search(r'data-measure="p2p_waiting">\s*<dt>[^<]*</dt>\s*<dd>4<', page)
    row = re.search(r"<tr><td>ana\.v@example\.org</td>(.*?)</tr>", page).group(1)
    assert 'data-col="held">2<' in row


def test_duplicating_a_p2p_campaign_keeps_its_conversation_settings(manager, auth):
    made = manager.post("/api/v1/campaigns", json={**P2P_CAMPAIGN, "reclaim_minutes": 15},
                        headers=auth)  # fmt: skip
    campaign_id = made.get_json()["id"]
    page = manager.get(f"/campaigns/{campaign_id}").text
    copy = manager.post(f"/campaigns/{campaign_id}/duplicate", data={"csrf_token": _csrf(page)})
    copy_id = int(re.search(r"/campaigns/(\d+)/edit", copy.headers["Location"]).group(1))
    duplicate = manager.get(f"/api/v1/campaigns/{copy_id}", headers=auth).get_json()
    assert _console(duplicate) == _console(made.get_json())
    assert duplicate["batch_size"] == 3 and len(duplicate["canned_responses"]) == 2
