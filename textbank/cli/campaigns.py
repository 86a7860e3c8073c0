"""`textbank campaigns launch ID [--no-wait]`."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from textbank import enqueue
from textbank.blasts.launch import begin_launch, ensure_launchable, launch_state, snapshotting
from textbank.campaigns.lifecycle import CampaignError, campaign_stats, get_campaign, progress
from textbank.models import CampaignStatus, utcnow
from textbank.web import redis_ext
from textbank.web.database import session_factory


@click.group("campaigns", cls=AppGroup)
def campaigns_group() -> None:
    """Manage campaigns."""


def _stats(campaign_id: int) -> dict:
    with session_factory()() as session:
        return campaign_stats(session, get_campaign(session, campaign_id))


def _state(campaign_id: int) -> dict:
    with session_factory()() as session:
        return launch_state(get_campaign(session, campaign_id))


def _follow_snapshot(campaign_id: int, state: dict) -> dict:
    """A bar over the members the launch job has examined, until its snapshot is done."""
    while state["snapshot"]["total"] is None and not state["snapshot"]["finished"]:
        time.sleep(0.5)  # no worker has started the launch job yet
        state = _state(campaign_id)
    with click.progressbar(length=max(1, state["snapshot"]["total"] or 0), label="snapshot",
                           show_pos=True) as bar:  # fmt: skip
        shown = 0
        while True:
            bar.update(state["snapshot"]["done"] - shown)
            shown = state["snapshot"]["done"]
            if state["snapshot"]["finished"]:
                return state
            time.sleep(0.5)
            state = _state(campaign_id)


def _line(campaign_id: int, state: dict, already: bool) -> str:
    skipped = ", ".join(f"{k} {v}" for k, v in state["skipped"].items())
    prefix = "already launched: " if already else ""
    return f"{prefix}campaign {campaign_id}: {state['queued']} queued; skipped {skipped}"


@campaigns_group.command("launch")
@click.argument("campaign_id", type=int)
@click.option("--no-wait", is_flag=True, help="Return once the launch is queued.")
def launch_command(campaign_id: int, no_wait: bool) -> None:
    """Launch a campaign and follow it: the audience snapshot, then every text to Twilio."""
    sessions = session_factory()
    try:
        with sessions.begin() as session:
            campaign = get_campaign(session, campaign_id)
            ensure_launchable(session, campaign)
            began = begin_launch(session, campaign, utcnow())
            state, pending = launch_state(campaign), snapshotting(campaign)
    except (LookupError, CampaignError) as exc:
        raise click.ClickException(str(exc)) from exc
    if pending:
        enqueue.launch(redis_ext.client(), campaign_id)
        if no_wait:
            done, total = state["snapshot"]["done"], state["snapshot"]["total"]
            click.echo(
                f"campaign {campaign_id}: launch queued; a worker snapshots the audience "
                f"({done} of {total if total is not None else 'its'} members so far) and sends"
            )
            return
        state = _follow_snapshot(campaign_id, state)
    click.echo(_line(campaign_id, state, already=not (began or pending)))
    if no_wait or not state["queued"]:
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
