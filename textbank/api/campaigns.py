"""Campaigns API: create, read, launch, pause, resume, stats."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from textbank import audit, enqueue
from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.blasts.launch import begin_launch, ensure_launchable, launch_state, snapshotting
from textbank.campaigns.lifecycle import (
    CampaignError,
    campaign_stats,
    campaign_to_dict,
    create_campaign,
    get_campaign,
    set_paused,
)
from textbank.campaigns.listing import MAX_PAGE, list_campaigns
from textbank.models import utcnow
from textbank.values import whole_number
from textbank.web import redis_ext, settings
from textbank.web.database import db


def _campaign(campaign_id: int):
    try:
        return get_campaign(db(), campaign_id)
    except LookupError as exc:
        raise ApiError(str(exc), 404) from exc


@bp.post("/campaigns")
@require_role(*MANAGERS)
def create():
    session = db()
    try:
        campaign = create_campaign(session, request.get_json(silent=True), settings().org_name)
    except CampaignError as exc:
        raise ApiError(str(exc), 400) from exc
    session.commit()
    return jsonify(campaign_to_dict(campaign)), 201


@bp.get("/campaigns")
@require_role(*MANAGERS)
def index():
    """Campaigns newest first; filters state, kind, mode; cursor paging with after/limit."""
    args = request.args
    limit = whole_number(args.get("limit", "50"), "limit", 1, MAX_PAGE)
    try:
        page = list_campaigns(
            db(), state=args.get("state") or None, kind=args.get("kind") or None,
            mode=args.get("mode") or None, limit=limit, after=args.get("after") or None,
        )  # fmt: skip
    except CampaignError as exc:
        raise ApiError(str(exc), 400) from exc
    return jsonify(campaigns=[c.to_dict() for c in page.campaigns], next=page.next_cursor)


@bp.get("/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
def read(campaign_id: int):
    return jsonify(campaign_to_dict(_campaign(campaign_id)))


@bp.post("/campaigns/<int:campaign_id>/launch")
@require_role(*MANAGERS)
def launch(campaign_id: int):
    """Answer at once: the snapshot and the sends are jobs; the answer is the launch state."""
    session = db()
    campaign = _campaign(campaign_id)
    try:
        ensure_launchable(session, campaign)
    except CampaignError as exc:
        raise ApiError(str(exc), 409) from exc
    begin_launch(session, campaign, utcnow())
    session.commit()
    if snapshotting(campaign):  # also a launch whose job Redis lost: queued again
        enqueue.launch(redis_ext.client(), campaign_id)
    state = launch_state(campaign)
    audit.record(session, g.user, "campaign.launch", f"campaign {campaign_id}", via="api")
    session.commit()
    current_app.logger.info("campaign %s launch: %s", campaign_id, state)
    return jsonify(state), 202


def _pause(campaign_id: int, paused: bool):
    session = db()
    campaign = _campaign(campaign_id)
    try:
        set_paused(session, campaign, paused)
    except CampaignError as exc:
        raise ApiError(str(exc), 409) from exc
    action = "campaign.pause" if paused else "campaign.resume"
    audit.record(session, g.user, action, f"campaign {campaign_id}", via="api")
    session.commit()
    if not paused:  # resume: queue whatever is due now rather than waiting for the sweeper
        enqueue.queue_due(session, redis_ext.client(), campaign_id)
    return jsonify(campaign_to_dict(campaign))


@bp.post("/campaigns/<int:campaign_id>/pause")
@require_role(*MANAGERS)
def pause(campaign_id: int):
    return _pause(campaign_id, True)


@bp.post("/campaigns/<int:campaign_id>/resume")
@require_role(*MANAGERS)
def resume(campaign_id: int):
    return _pause(campaign_id, False)


@bp.get("/campaigns/<int:campaign_id>/stats")
@require_role(*MANAGERS)
def stats(campaign_id: int):
    return jsonify(campaign_stats(db(), _campaign(campaign_id)))
