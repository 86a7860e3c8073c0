"""`textbank report --by local|campaign [--format table|json|csv]`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from textbank.reports.engagement import engagement
from textbank.reports.formats import ReportArgsError, report_filter, to_csv, to_json, to_table
from textbank.web.database import session_factory


@click.command("report")
@click.option("--by", type=click.Choice(["local", "campaign"]), default="local", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)  # fmt: skip
@click.option("--campaign", help="Only this campaign (its id).")
@click.option("--local", help="Only this local (its number).")
@click.option("--from", "since", help="Events on or after this date (2026-11-01).")
@click.option("--to", "until", help="Events before this date.")
@with_appcontext
def report_command(by: str, fmt: str, campaign, local, since, until) -> None:
    """Engagement per local or per campaign against the organizing goals."""
    try:
        f = report_filter(campaign, local, since, until)
    except ReportArgsError as exc:
        raise click.BadParameter(str(exc)) from exc
    with session_factory()() as session:
        report = engagement(session, by, f)
    render = {"table": lambda: to_table(report, by), "json": lambda: to_json(report),
              "csv": lambda: to_csv(report, by).rstrip("\n")}  # fmt: skip
    click.echo(render[fmt]())


def register(group: click.Group) -> None:
    group.add_command(report_command)
