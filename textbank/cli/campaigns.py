"""`textbank campaigns launch ID [--no-wait]`."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from textbank.blasts.launch import ensure_launchable
from textbank.campaigns.lifecycle import CampaignError, campaign_stats, get_campaign, progress
from textbank.models import CampaignStatus
from textbank.web import redis_ext, settings
from textbank.web.database import session_factory
from workers.jobs import launch_now


@click.group("campaigns", cls=AppGroup)
def campaigns_group() -> None:
    """Manage campaigns."""


def _stats(campaign_id: int) -> dict:
    with session_factory()() as session:
        return campaign_stats(session, get_campaign(session, campaign_id))


@campaigns_group.command("launch")
@click.argument("campaign_id", type=int)
@click.option("--no-wait", is_flag=True, help="Return once the blast is queued.")
def launch_command(campaign_id: int, no_wait: bool) -> None:
    """Launch a campaign and follow the blast until every text is handed to Twilio."""
    sessions = session_factory()
    try:
        with sessions() as session:
            ensure_launchable(session, get_campaign(session, campaign_id))
    except (LookupError, CampaignError) as exc:
        raise click.ClickException(str(exc)) from exc
    result = launch_now(sessions, settings(), redis_ext.client(), campaign_id)
    skipped = ", ".join(f"{k} {v}" for k, v in result.skipped.items())
    prefix = "already launched: " if result.already_launched else ""
    click.echo(f"{prefix}campaign {campaign_id}: {result.queued} queued; skipped {skipped}")
    if no_wait or not result.queued:
        return
    stats = _stats(campaign_id)
    total = max(1, stats["audience"] - sum(stats["skipped"].values()))
    with click.progressbar(length=total, label="sending", show_pos=True) as bar:
        done = 0
        while True:
            with session_factory()() as session:
                now = progress(session, campaign_id)
            now_done = total - now.in_flight - now.deferred
            bar.update(now_done - done)
            done = now_done
            if now.in_flight == 0 or now.status == CampaignStatus.PAUSED:
                break
            time.sleep(1)
    stats = _stats(campaign_id)
    click.echo(
        f"sent {stats['sent']}, delivered {stats['delivered']}, failed {stats['failed']}, "
        f"deferred to their send window {stats['deferred']}, status {stats['status']}"
    )


def register(group: click.Group) -> None:
    group.add_command(campaigns_group)
