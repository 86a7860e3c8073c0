"""Engagement reports as a table, JSON or CSV, and the filters people type."""

from __future__ import annotations

import json
from datetime import datetime

from textbank import csvexport
from textbank.reports.calls import CALL_MEASURES
from textbank.reports.engagement import MEASURES, ReportFilter
from textbank.values import BadValue, moment, optional_id

RATES = ("conversation_rate", "action_rate", "activist_rate")


class ReportArgsError(ValueError):
    """A filter that cannot be read; the message names it."""


def parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return moment(value, name)
    except BadValue as exc:
        raise ReportArgsError(str(exc)) from exc


def report_filter(
    campaign: str | None, local: str | None, since: str | None, until: str | None
) -> ReportFilter:
    try:
        campaign_id = optional_id(campaign, "campaign")
    except BadValue as exc:
        raise ReportArgsError(f"campaign must be a campaign id, got {campaign!r}") from exc
    return ReportFilter(campaign_id, local or None, parse_time(since, "from"),
                        parse_time(until, "to"))  # fmt: skip


def _columns(by: str, calls: bool = True) -> list[str]:
    return [by, *MEASURES, *RATES, *(CALL_MEASURES if calls else ())]


def to_csv(report: dict, by: str) -> str:
    """The report as CSV; names people typed (campaigns, locals) never run as formulas."""
    return csvexport.to_csv(_columns(by), [*report["rows"], {by: "TOTAL", **report["total"]}])


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2)


def to_table(report: dict, by: str) -> str:
    """A plain-text table for the terminal, rates as percentages."""
    # The call measures only once there are calls: a terminal is narrow.
    columns = _columns(by, calls=bool(report["total"].get("calls_placed")))
    rows = [*report["rows"], {by: "TOTAL", **report["total"]}]

    def cell(row: dict, col: str) -> str:
        value = row.get(col, "")
        return f"{value:.1%}" if col in RATES else str(value)

    widths = {c: max(len(c), *(len(cell(r, c)) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(cell(r, c).rjust(widths[c]) if c != by else cell(r, c).ljust(widths[c])
                        for c in columns) for r in rows]  # fmt: skip
    return "\n".join(lines)
