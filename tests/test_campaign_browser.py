"""A manager's whole journey in a real browser (headless Chromium): a member list in, a
campaign with a Spanish translation built and launched, watched to the end, and the same
counts on the campaign page, the report and the CSV."""

import csv
import io
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

from blast_helpers import inbound, signed_post
from test_dashboard_browser import _chromium, _watch, real_problems

from textbank.accounts import create_user
from textbank.db import session_scope

LEAD, PASSWORD = "organizer@example.org", "a long and known password"
# A union's own export: its own column names (its "Home Chapter" is a column textbank does
# not know: the manager maps it to the local), a Spanish speaker, one member opted out later.
EXPORT = (
    "First,Last,Cell,Home Chapter,Language\n"
    "Ana,Reyes,617-555-0101,1199,Spanish\n"
    "Luis,Ortiz,617-555-0102,1199,English\n"
    "Rosa,Silva,617-555-0103,1199,es\n"
    "Mei,Chen,617-555-0104,1199,en\n"
    "Wei,Lin,617-555-0105,26,en\n"
)
SHOTS = os.environ.get("TEXTBANK_SCREENSHOTS")  # a folder: save each page at 1280 and 375 px


def _shot(page, name: str) -> None:
    if not SHOTS:
        return
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _fits_a_phone(page) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, page.url
    page.set_viewport_size({"width": 1280, "height": 900})


def _burst_worker(live, tmp_path) -> subprocess.Popen:
    """`textbank worker --burst` on the test's database, Redis and sandbox carrier."""
    env = {**os.environ, "TEXTBANK_ENV": "test", "DATABASE_URL": live.settings.database_url,
           "REDIS_URL": live.settings.redis_url, "TWILIO_API_URL": live.sandbox.url,
           "PUBLIC_BASE_URL": live.url, "TEXTBANK_SEND_WINDOW": "00:00-24:00",
           "TEXTBANK_INSTANCE_PATH": str(tmp_path / "worker-instance")}  # fmt: skip
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "textbank.cli", "worker", "--burst"],
                            env=env, stdout=log, stderr=log)  # fmt: skip


def test_import_build_launch_watch_and_read_the_same_counts(live, tmp_path):
    with session_scope(live.sessions) as session:
        create_user(session, LEAD, "manager", PASSWORD)
    export = tmp_path / "union-export.csv"
    export.write_text(EXPORT)

    problems: list[str] = []
    requests: list[str] = []
    with _chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(20_000)
        _watch(page, requests, problems)
        page.goto(f"{live.url}/campaigns")
        page.fill("#email", LEAD)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")

        # The member list: uploaded, its unknown column mapped, imported by a worker.
        page.goto(f"{live.url}/members/import")
        page.get_by_label("Member list (CSV)").set_input_files(str(export))
        page.get_by_role("button", name="Upload and check columns").click()
        chapter = page.get_by_label("Import column Home Chapter as")
        assert chapter.input_value() == ""  # not recognised: "Don't import" until mapped
        assert page.get_by_label("Import column Cell as").input_value() == "phone"
        chapter.select_option("local")
        _fits_a_phone(page)
        _shot(page, "import-mapping")
        page.get_by_role("button", name="Import these members").click()
        importer = _burst_worker(live, tmp_path)
        assert importer.wait(timeout=60) == 0
        result = page.locator("#import-result")
        result.wait_for(timeout=30_000)  # the page refreshes itself until the job is done
        counts = {k: result.locator(f'[data-count="{k}"]').inner_text()
                  for k in ("created", "updated", "rejected")}  # fmt: skip
        assert counts == {"created": "5", "updated": "0", "rejected": "0"}
        _shot(page, "import-result")

        page.goto(f"{live.url}/campaigns")
        page.get_by_role("link", name="New campaign").click()

        # Build it: the preview fills in real members and counts the audience as we type.
        page.get_by_label("Name", exact=True).fill("GOTV Local 1199")
        page.get_by_label("Message (English").fill(
            "Hi {first_name}! {local} votes Tuesday. Reply YES to pledge, STOP to opt out."
        )
        page.get_by_label("Message in Spanish").fill(
            "¡Hola {first_name}! El {local} vota el martes. Responde SI o STOP."
        )
        page.get_by_label("Locals").fill("1199")
        page.get_by_label("Keyword 1", exact=True).fill("YES")
        page.get_by_label("Outcome 1", exact=True).fill("pledged_to_vote")
        page.get_by_label("Answer to keyword 1 (English)").fill("Thank you, {first_name}!")
        page.get_by_text("Answer 1 in other languages").click()
        page.get_by_label("Answer 1 in Spanish").fill("¡Gracias, {first_name}!")
        page.get_by_label("Keyword 2", exact=True).fill("SI")
        page.get_by_label("Outcome 2", exact=True).fill("pledged_to_vote")
        preview = page.locator("#preview")
        preview.locator('[data-count="textable"]').filter(has_text="4").wait_for()
        es = preview.locator('[data-lang="es"] .bubble')
        es.filter(has_text="¡Hola Ana! El Local 1199 vota el martes.").wait_for()
        assert "UCS-2" not in preview.locator('[data-lang="default"]').inner_text()
        _fits_a_phone(page)
        _shot(page, "campaign-form")
        page.get_by_role("button", name="Save and review the launch").click()

        # The confirmation: who is texted, who is skipped, the segments; then launch.
        page.wait_for_url(re.compile(r"/campaigns/\d+/launch$"))
        campaign_id = int(urlsplit(page.url).path.split("/")[2])
        assert page.locator('[data-plan="texted"]').inner_text() == "4"
        assert page.locator('[data-plan="opted_out"]').inner_text() == "0"
        _shot(page, "campaign-launch")
        page.get_by_role("button", name="Launch now: text 4 members").click()
        page.wait_for_url(f"{live.url}/campaigns/{campaign_id}")
        # A worker process, as in production, sends the texts while the page watches.
        worker = _burst_worker(live, tmp_path)

        # Watch it finish: the page updates itself until every text is delivered.
        delivered = page.locator('[data-measure="delivered"] dd')
        delivered.filter(has_text=re.compile(r"^4$")).wait_for(timeout=60_000)
        page.locator('#live[data-state="completed"]').wait_for(timeout=30_000)
        assert worker.wait(timeout=60) == 0
        for phone, body in [("+16175550101", "SI"), ("+16175550102", "what time?"),
                            ("+16175550103", "HELP"), ("+16175550104", "STOP")]:  # fmt: skip
            signed_post(live.client, live.settings, "/twilio/sms", inbound(phone, body))
        assert _burst_worker(live, tmp_path).wait(timeout=60) == 0  # acts on the replies
        page.reload()

        def card(key: str) -> str:
            return page.locator(f'[data-measure="{key}"] dd').inner_text()

        on_page = {k: card(k) for k in ("members", "texted", "delivered", "replied",
                                         "volunteers", "opted_out")}  # fmt: skip
        on_page["acted"] = card("acted")
        assert on_page == {"members": "4", "texted": "4", "delivered": "4", "replied": "2",
                           "volunteers": "0", "opted_out": "1", "acted": "1"}  # fmt: skip
        assert "Members Twilio accepted a text" in page.content()  # the definition is there
        _fits_a_phone(page)
        _shot(page, "campaign-page")

        # The report, filtered to this campaign, says the same.
        page.get_by_role("link", name="See it in the report").click()
        funnel = page.locator(f'article[data-campaign-id="{campaign_id}"]')
        on_report = {
            s: funnel.locator(f'[data-step="{s}"]').inner_text()
            for s in ("texted", "delivered", "replied", "acted", "volunteers")
        }
        assert on_report == {k: on_page[k] for k in on_report}
        csv_url = f"{live.url}/dashboard/engagement.csv?by=campaign&campaign={campaign_id}"
        body = page.request.get(csv_url).text()
        (row, total) = list(csv.DictReader(io.StringIO(body)))
        assert {k: row[k] for k in on_page} == on_page
        assert total["campaign"] == "TOTAL" and total["members"] == "4"

        page.goto(f"{live.url}/campaigns")
        card_ = page.locator(f'[data-campaign-id="{campaign_id}"]')
        assert card_.locator('[data-col="sent"]').inner_text() == "4"
        _fits_a_phone(page)
        _shot(page, "campaign-list")
    assert real_problems(problems) == []  # no script errors, no CSP violations
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in requests if u.startswith("http"))
