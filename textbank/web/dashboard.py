"""The managers' dashboard: engagement per local and campaign, errors, activity over time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from sqlalchemy import select

from textbank.models import Campaign, Local
from textbank.reports.dashboard import MAX_DAYS, error_breakdown, timeline
from textbank.reports.engagement import ReportFilter, engagement
from textbank.reports.formats import ReportArgsError, report_filter, to_csv
from textbank.reports.measures import MEASURES
from textbank.web import settings
from textbank.web.auth import MANAGERS, login_required, secure_headers
from textbank.web.database import db

bp = Blueprint("dashboard", __name__)
bp.after_request(secure_headers)

DEFAULT_DAYS = 30
FILTERS = ("campaign", "local", "from", "to")
FUNNEL = (
    ("texted", "Texted"),
    ("delivered", "Delivered"),
    ("replied", "Replied"),
    ("acted", "Acted"),
    ("volunteers", "Volunteered"),
)


def _filters() -> dict[str, str]:
    """The filters from the query string, and nothing else (they are echoed into links)."""
    return {k: v for k in FILTERS if (v := request.args.get(k, "").strip())}


def _filter() -> ReportFilter:
    args = _filters()
    f = report_filter(args.get("campaign"), args.get("local"), args.get("from"), args.get("to"))
    f.local_number()  # an unreadable local is a bad filter (400), not a server error
    return f


def _chart_range(f: ReportFilter) -> tuple[int, date]:
    """The chart's days: the filter's dates when given (to is exclusive), else the last 30."""
    last = (f.until - timedelta(microseconds=1)).astimezone(UTC).date() if f.until else None
    last = last or datetime.now(UTC).date()
    first = f.since.astimezone(UTC).date() if f.since else last - timedelta(DEFAULT_DAYS - 1)
    return max(1, min((last - first).days + 1, MAX_DAYS)), last


def _choices() -> tuple[list, list]:
    session = db()
    campaigns = session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id.desc()))
    locals_ = session.execute(select(Local.number, Local.name).order_by(Local.number))
    return list(campaigns), list(locals_)


@bp.get("/")
def home():
    # Only a pointer: /dashboard checks who is asking, and sends strangers to sign in.
    return redirect(url_for("dashboard.index"))


@bp.get("/dashboard")
@login_required(MANAGERS)
def index():
    campaigns, locals_ = _choices()
    try:
        f = _filter()
    except ValueError as exc:  # ReportArgsError and unreadable locals both say what is wrong
        return render_template(
            "dashboard.html",
            error=str(exc),
            campaigns=campaigns,
            locals=locals_,
            filters=_filters(),
        ), 400
    session = db()
    days, last = _chart_range(f)
    activity = timeline(session, days, f.campaign_id, local=f.local, end=last)
    return render_template(
        "dashboard.html",
        filters=_filters(),
        campaigns=campaigns,
        locals=locals_,
        by_local=engagement(session, "local", f),
        by_campaign=engagement(session, "campaign", f),
        funnel=FUNNEL,
        errors=error_breakdown(session, f.campaign_id, local=f.local, since=f.since, until=f.until),
        activity=[{**row, "day": row["day"].isoformat()} for row in activity],
        org_name=settings().org_name,
        measures=MEASURES,
    )


@bp.get("/dashboard/engagement.csv")
@login_required(MANAGERS)
def engagement_csv():
    by = request.args.get("by", "local")
    try:
        if by not in ("local", "campaign"):
            raise ReportArgsError(f"by must be local or campaign, got {by!r}")
        f = _filter()
    except ValueError as exc:
        return Response(f"{exc}\n", status=400, mimetype="text/plain")
    report = engagement(db(), by, f)
    body = to_csv(report, by)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=engagement-by-{by}.csv"},
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.template_filter("num")
    def _num(value) -> str:
        return f"{int(value or 0):,}"

    @app.template_filter("pct")
    def _pct(value) -> str:
        return f"{float(value or 0):.0%}"
