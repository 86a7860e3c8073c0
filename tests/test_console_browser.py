"""The manager console in a real browser: a list imported with a mapping step, people managed."""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from console_helpers import PASSWORD, make_user
from sqlalchemy import select
from test_dashboard_browser import _chromium, _watch

from textbank.db import session_scope
from textbank.models import Member, User

EXPORT = (
    "VANID,First,Last,Wireless,Home Local,Skills,Email\n"
    "9001,Ana,Rivera,617-555-0101,Local 1199,phone banking,ana@example.org\n"
    "9002,Luis,Rivas,617-555-0102,#1199,,luis@@example\n"
    "9003,Mei,Chen,555-0000,26,,\n"
)
LEAD = "lead@example.org"
SHOTS = "/tmp/console-shots"


def _worker_burst(settings, tmp_path) -> None:
    """`textbank worker --burst`, as a deployment runs it: the import happens in the worker.

    A process of its own: Playwright keeps an event loop running in this thread.
    """
    env = {**os.environ, "TEXTBANK_ENV": "test", "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url, "TEXTBANK_INSTANCE_PATH": str(tmp_path)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "textbank.cli", "worker", "--burst"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def _fits_a_phone(page, name: str) -> None:
    """At 375 px the page never scrolls sideways (wide tables scroll inside their box)."""
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
    page.screenshot(path=f"{SHOTS}/{name}-375.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=f"{SHOTS}/{name}-1280.png", full_page=True)


def test_manager_imports_with_a_mapping_step_and_manages_people(live, tmp_path):
    os.makedirs(SHOTS, exist_ok=True)
    make_user(live.sessions, LEAD, "manager")
    export = tmp_path / "van-export.csv"
    export.write_text(EXPORT)
    requests, problems = [], []
    with _chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)  # fmt: skip
        page = context.new_page()
        page.set_default_timeout(15_000)
        _watch(page, requests, problems)
        page.goto(f"{live.url}/members/import")
        page.get_by_label("Email").fill(LEAD)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live.url}/members/import")

        # 1. Upload: nothing is imported yet, the columns come back for checking.
        page.get_by_label("Member list (CSV)").set_input_files(str(export))
        page.get_by_role("button", name="Upload and check columns").click()
        page.wait_for_url(re.compile(r"/members/import/\d+$"))
        assert page.get_by_label("Import column VANID as").input_value() == "external_id"
        assert page.get_by_label("Import column Wireless as").input_value() == ""
        _fits_a_phone(page, "mapping")
        page.get_by_role("button", name="Import these members").click()
        assert "pick the column that holds the phone numbers" in page.inner_text("[role=alert]")

        # 2. The columns textbank could not know, mapped by hand, with the keyboard.
        page.get_by_label("Import column Wireless as").focus()
        page.keyboard.type("Phone")  # a native select jumps to the option typed
        page.get_by_label("Import column Home Local as").select_option(label="Local (number)")
        page.get_by_label("Import column Skills as").select_option(label="Tags (separated by ;)")
        assert page.get_by_label("Import column Wireless as").input_value() == "phone"
        page.get_by_role("button", name="Import these members").click()
        page.wait_for_selector("text=Importing")
        _worker_burst(live.settings, tmp_path)
        page.reload()
        result = page.locator("#import-result")
        counts = {k: result.locator(f'[data-count="{k}"]').inner_text()
                  for k in ("created", "updated", "unchanged", "rejected")}  # fmt: skip
        assert counts == {"created": "2", "updated": "0", "unchanged": "0", "rejected": "1"}
        assert "Row 3: invalid email" in page.inner_text("body")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the rejected rows (CSV)").click()
        rejected = Path(download.value.path()).read_text().splitlines()
        assert rejected[1] == "4,invalid phone '555-0000',9003,Mei,Chen,555-0000,26,,"
        _fits_a_phone(page, "import-result")

        # 3. The members, found by name; one member's page.
        page.get_by_role("link", name="Members", exact=True).click()
        page.get_by_label("Name or phone").fill("riv")
        page.get_by_role("button", name="Search").click()
        rows = page.locator("#members tbody tr")
        assert rows.count() == 2
        _fits_a_phone(page, "members")
        page.get_by_role("link", name="Ana Rivera").click()
        assert "phone banking" in page.inner_text("body")
        assert "Local 1199" in page.inner_text("body")
        _fits_a_phone(page, "member")

        # 4. People: invite a volunteer, who creates their account from the link.
        page.get_by_role("link", name="People", exact=True).click()
        page.get_by_label("Email").fill("retiree@example.org")
        page.get_by_label("Role").select_option("volunteer")
        page.get_by_role("button", name="Create invite link").click()
        link = page.locator("#one-time-link").inner_text()
        _fits_a_phone(page, "people")
        guest = browser.new_context(viewport={"width": 375, "height": 812}).new_page()
        guest.goto(link)
        guest.get_by_label("Password (at least 8 characters)").fill("my own password")
        guest.get_by_label("The same password again").fill("my own password")
        guest.screenshot(path=f"{SHOTS}/invite-375.png", full_page=True)
        guest.get_by_role("button", name="Create my account").click()
        guest.wait_for_url("**/volunteer")  # signed in, in the volunteer console
        assert "Text-bank shift" in guest.inner_text("body")
        guest.context.close()

        # 5. Promote, then disable them; the audit log says who did it.
        page.reload()
        page.get_by_label("Role of retiree@example.org", exact=True).select_option("manager")
        page.get_by_role("button", name="Change role of retiree@example.org").click()
        page.get_by_role("button", name="Disable retiree@example.org").click()
        assert "is disabled" in page.inner_text("[role=status]")
        page.get_by_role("link", name="Audit log").click()
        audit = page.inner_text("#audit")
        for words in ("disabled an account", "changed a role", "accepted an invite",
                      "invited someone", "imported a member list"):  # fmt: skip
            assert words in audit, words
        _fits_a_phone(page, "audit")
        context.close()

    with session_scope(live.sessions) as session:
        retiree = session.scalar(select(User).where(User.email == "retiree@example.org"))
        assert (retiree.role, retiree.active) == ("manager", False)
        ana = session.scalar(select(Member).where(Member.phone == "+16175550101"))
        assert (ana.external_id, ana.tags) == ("9001", ["phone banking"])
    off_site = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1", None)]
    assert off_site == []
    # Only the two refusals above (400, shown on the page); no script error, no CSP violation.
    assert [p for p in problems if "status of 400" not in p] == []
