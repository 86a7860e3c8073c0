"""GET /api/v1/reports/engagement: counts per local or campaign, JSON or CSV."""

from __future__ import annotations

from flask import Response, jsonify, request

from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.reports.engagement import engagement
from textbank.reports.formats import ReportArgsError, report_filter, to_csv
from textbank.web.database import db


@bp.get("/reports/engagement")
@require_role(*MANAGERS)
def engagement_report():
    args = request.args
    by = args.get("by", "local")
    if by not in ("local", "campaign"):
        raise ApiError("by must be local or campaign", 400)
    try:
        f = report_filter(args.get("campaign"), args.get("local"), args.get("from"), args.get("to"))
    except ReportArgsError as exc:
        raise ApiError(str(exc), 400) from exc
    report = engagement(db(), by, f)
    if args.get("format") == "csv":
        return Response(to_csv(report, by), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename=engagement-by-{by}.csv"})  # fmt: skip
    return jsonify(report)
