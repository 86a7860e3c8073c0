"""Counts sent back: a leader's STATS reply, and scheduled digests to every local's leaders."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from textbank.models import Campaign, CampaignStatus, DigestSchedule, Local, utcnow
from textbank.reports.engagement import ReportFilter, engagement

# A campaign stays "active" for its leaders while replies and actions still come in.
ACTIVE_FOR = timedelta(days=30)
MAX_CAMPAIGNS = 3  # keeps the text to a couple of segments
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DigestError(ValueError):
    """A schedule that cannot be set; the message says why."""


def _pct(n: int, of: int) -> str:
    return f"{round(100 * n / of)}%" if of else "0%"


def local_stats_text(session: Session, local_number: str, now: datetime | None = None) -> str:
    """One SMS of a local's counts for its active campaigns (or overall when none is)."""
    now = now or utcnow()
    campaign_ids = session.scalars(
        select(Campaign.id)
        .where(Campaign.launched_at >= now - ACTIVE_FOR, Campaign.kind != "digest")
        .order_by(Campaign.id.desc())
        .limit(MAX_CAMPAIGNS)
    ).all()
    parts = []
    for campaign_id in campaign_ids:
        report = engagement(session, "campaign", ReportFilter(campaign_id, local_number))
        for row in report["rows"]:
            m = row["members"]
            parts.append(
                f"{row['campaign']}: texted {row['texted']}, talked {_pct(row['replied'], m)}, "
                f"acted {_pct(row['acted'], m)}, volunteers {row['volunteers']}"
            )
    if not parts:
        rows = engagement(session, "local", ReportFilter(local=local_number))["rows"]
        if not rows:
            return f"Local {local_number}: no members on file yet."
        row = rows[0]
        m = row["members"]
        parts.append(
            f"{m} members, talked {_pct(row['replied'], m)} (goal 100%), acted "
            f"{_pct(row['acted'], m)} (goal 50%), activists {_pct(row['volunteers'], m)} (goal 10%)"
        )
    return f"Local {local_number}: " + "; ".join(parts)


def stats_by_local(session: Session) -> dict[str, str]:
    """The {local_stats} merge field for every local, computed once per launch."""
    return {n: local_stats_text(session, n) for n in session.scalars(select(Local.number))}


def next_run(schedule: DigestSchedule, after: datetime) -> datetime:
    """The next local-time slot (hour, and weekday if weekly) strictly after `after`."""
    tz = ZoneInfo(schedule.timezone)
    local = after.astimezone(tz)
    candidate = local.replace(hour=schedule.hour, minute=0, second=0, microsecond=0)
    for _ in range(15):
        if candidate > local and (
            schedule.frequency == "daily" or candidate.weekday() == schedule.weekday
        ):
            return candidate.astimezone(after.tzinfo)
        candidate = (candidate + timedelta(days=1)).replace(hour=schedule.hour)
    raise DigestError("no next run within two weeks")


def create_schedule(session: Session, data: object, now: datetime) -> DigestSchedule:
    """{"frequency": "daily"|"weekly", "weekday": "monday", "hour": 9, "timezone": "..."}."""
    if not isinstance(data, dict):
        raise DigestError('send a JSON object like {"frequency": "weekly", "weekday": "monday"}')
    frequency = data.get("frequency")
    if frequency not in ("daily", "weekly"):
        raise DigestError("frequency must be daily or weekly")
    weekday = None
    if frequency == "weekly":
        day = str(data.get("weekday", "monday")).lower()
        if day not in WEEKDAYS:
            raise DigestError(f"weekday must be one of {', '.join(WEEKDAYS)}")
        weekday = WEEKDAYS.index(day)
    hour = data.get("hour", 9)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise DigestError("hour must be a whole number from 0 to 23")
    timezone = data.get("timezone", "America/New_York")
    if not isinstance(timezone, str):
        raise DigestError(f"timezone must be a name like America/New_York, got {timezone!r}")
    try:
        ZoneInfo(timezone)
    except (ValueError, KeyError, OSError) as exc:
        raise DigestError(f"unknown timezone {timezone!r}") from exc
    schedule = DigestSchedule(frequency=frequency, weekday=weekday, hour=hour,
                              timezone=timezone, created_at=now)  # fmt: skip
    schedule.next_run_at = next_run(schedule, now)
    session.add(schedule)
    session.flush()
    return schedule


def schedule_to_dict(s: DigestSchedule) -> dict:
    return {
        "id": s.id, "frequency": s.frequency,
        "weekday": WEEKDAYS[s.weekday] if s.weekday is not None else None,
        "hour": s.hour, "timezone": s.timezone, "enabled": s.enabled,
        "next_run_at": s.next_run_at.isoformat(),
        "last_run_at": s.last_run_at.isoformat() if s.last_run_at else None,
    }  # fmt: skip


def start_digest(session: Session, schedule_id: int, slot: datetime) -> int | None:
    """Create this slot's digest campaign to all leaders; None if the slot already ran."""
    schedule = session.get(DigestSchedule, schedule_id, with_for_update=True)
    if schedule is None or not schedule.enabled:
        return None
    if schedule.last_run_at is not None and schedule.last_run_at >= slot:
        return None  # safe to run twice: this slot is done
    schedule.last_run_at = slot
    schedule.next_run_at = next_run(schedule, slot)
    campaign = Campaign(
        name=f"Digest {slot.astimezone(ZoneInfo(schedule.timezone)):%Y-%m-%d %H:%M}",
        kind="digest", channel="sms", message="{local_stats}", translations={},
        audience={"leaders": True}, keywords={}, replies={}, goals={},
        status=CampaignStatus.DRAFT,
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    return campaign.id
