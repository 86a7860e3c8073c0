"""Exports open safely in a spreadsheet; API answers are neither sniffed nor cached."""

import csv
import io
import json

from blast_helpers import inbound, seed, signed_post
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Local

FORMULA = '=HYPERLINK("http://evil.example","click")'


def test_opt_out_ledger_csv_neutralises_a_members_formula(client, settings, sessions, auth):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    signed_post(client, settings, "/twilio/sms", inbound("+16175550101", "STOP"))
    with session_scope(sessions) as session:
        from textbank.models import OptOutEvent

        session.scalars(select(OptOutEvent)).one().text = FORMULA
    response = client.get("/api/v1/opt-outs?format=csv", headers=auth)
    [row] = csv.DictReader(io.StringIO(response.text))
    assert row["text"] == "'" + FORMULA
    assert row["phone"] == "+16175550101"  # a number stays a number


def _formula_local(sessions) -> None:
    seed(sessions, [("Ana", "617-555-0101", "1199", "en"), ("Kim", "617-555-0102", "26", "en")])
    with session_scope(sessions) as session:
        for local, name in zip(session.scalars(select(Local).order_by(Local.number)),
                               ("@SUM(1+1)*cmd", "-2+3+cmd"), strict=True):  # fmt: skip
            local.number = name


def test_report_csv_from_api_and_cli_neutralises_formulas(client, runner, sessions, auth):
    _formula_local(sessions)
    api = client.get("/api/v1/reports/engagement?by=local&format=csv", headers=auth).text
    cli = runner.invoke(args=["report", "--by", "local", "--format", "csv"]).output
    for text in (api, cli):
        names = [r["local"] for r in csv.DictReader(io.StringIO(text))]
        assert sorted(names) == ["'-2+3+cmd", "'@SUM(1+1)*cmd", "TOTAL"], text
    data = json.loads(runner.invoke(args=["report", "--by", "local", "--format", "json"]).output)
    assert "-2+3+cmd" in [r["local"] for r in data["rows"]]  # JSON carries the value as is


def test_api_answers_are_not_sniffed_or_cached(client, auth, volunteer_token):
    for response in (
        client.get("/api/v1/members", headers=auth),
        client.get("/api/v1/members"),  # 401
        client.get("/api/v1/members", headers={"Authorization": f"Bearer {volunteer_token}"}),
        client.get("/api/v1/no-such-thing", headers=auth),
        client.get("/api/v1/opt-outs?format=csv", headers=auth),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.status
        assert response.headers["Cache-Control"] == "no-store", response.status
