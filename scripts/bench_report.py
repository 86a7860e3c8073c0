"""Engagement reports and the campaign console on a large PostgreSQL data set, each beside
the plain query it replaces.

Usage: python scripts/bench_report.py [--members 1000000] [--messages 5000000] [--runs 7]
                                      [--reuse]

Builds the data set in set-based SQL (40 locals, 20 blasts, Twilio's usual status mix,
replies, outcomes, opt-outs; the members' engagement firsts set from those events as the
app's hooks would have), times the report beside the same measures counted straight from
the event tables (median of --runs after a warm-up) and checks that the numbers agree.
BENCH_DATABASE_URL picks the database (default: textbank_bench on 127.0.0.1, created/wiped).
The console's timings (campaign list, a campaign's page, the per-campaign report, a per-local
report filtered to one campaign, one local and a date range) are each printed beside the
plain query it replaces, with a check that both count the same. --reuse keeps a data set of
the same size already in the database (migrated to the current schema) instead of
rebuilding it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import DEFAULT_URL, scratch_database, stopwatch
from sqlalchemy import bindparam, func, select, table, text

from textbank import schema
from textbank.config import normalize_database_url
from textbank.db import make_engine, make_session_factory, session_scope
from textbank.engagement.marks import CONVERSATIONAL
from textbank.models import VOLUNTEER_OUTCOME
from textbank.reports.engagement import MEASURES, ReportFilter, _recount, engagement
from textbank.twilio.codes import NOT_DELIVERED

LOCALS, CAMPAIGNS, TARGET_MS, BUDGET_S = 40, 20, 300.0, 90.0
TABLES = ("members", "locals", "campaigns", "outbound_messages", "inbound_messages", "outcomes")
# h(key, salt): a uniform pseudo-random 0..9999, the same on every run; blast c's launch.
SETUP = (
    "SET synchronous_commit = off",
    "SET work_mem = '256MB'",
    "SET maintenance_work_mem = '512MB'",
    "SET jit = off",
    """CREATE FUNCTION bench_h(bigint, int) RETURNS int LANGUAGE sql IMMUTABLE
      AS $$ SELECT mod(hashint8($1 * 131 + $2) & 2147483647, 10000) $$""",
    """CREATE FUNCTION bench_launch(bigint) RETURNS timestamptz LANGUAGE sql STABLE
      AS $$ SELECT timestamptz '2026-01-05 15:00:00+00' + ($1 - 1) * interval '4 days' $$""",
)

BUILD = {
    "locals": """INSERT INTO locals (id, number, name, created_at)
        SELECT g, (100 + g * 37)::text, 'Local ' || (100 + g * 37), bench_launch(-200)
        FROM generate_series(1, :locals) g""",
    "campaigns": """INSERT INTO campaigns (id, name, kind, channel, message, translations,
          audience, keywords, replies, goals, status, created_at, launched_at, completed_at,
          snapshot_cursor, skipped_opted_out, skipped_invalid, skipped_duplicate)
        SELECT c, 'Bench blast ' || c, k.kind, 'sms', 'Hi {first_name}! Reply YES.', '{}',
          '{}', json_build_object('yes', k.outcome), '{}', '{}', 'completed',
          bench_launch(c) - interval '1 day', bench_launch(c), bench_launch(c + 1), :members,
          0, 0, 0
        FROM generate_series(1, :campaigns) c CROSS JOIN LATERAL (SELECT
          CASE WHEN c % 4 = 0 THEN 'volunteer' WHEN c % 2 = 0 THEN 'petition' ELSE 'gotv' END
            AS kind, CASE WHEN c % 4 = 0 THEN :volunteer WHEN c % 2 = 0
            THEN 'signed_petition' ELSE 'pledged_to_vote' END AS outcome) k""",
    # Locals of uneven size, 0.5% with none; 2% opt out by STOP 3 h after one blast.
    "members": """INSERT INTO members (id, first_name, last_name, phone, local_id, language,
          status, is_leader, opted_out_at, opt_out_source, created_at, updated_at,
          audience_changed_at)
        SELECT g, (ARRAY['Ana', 'Luis', 'Mei', 'Tom', 'Aisha', 'Jorge'])[1 + bench_h(g, 1) % 6],
          (ARRAY['Rivera', 'Chen', 'Okafor', 'Smith', 'Nguyen'])[1 + bench_h(g, 2) % 5],
          '+1' || (617 + g / 10000000) || lpad((g % 10000000)::text, 7, '0'),
          CASE WHEN bench_h(g, 3) >= 50
            THEN 1 + (:locals * (bench_h(g, 4) / 10000.0) ^ 2)::int % :locals END,
          CASE WHEN bench_h(g, 5) < 1500 THEN 'es' ELSE 'en' END, 'active', bench_h(g, 6) < 100,
          o.at, CASE WHEN o.at IS NOT NULL THEN 'sms_keyword' END,
          bench_launch(-7), bench_launch(-7), bench_launch(-7)
        FROM generate_series(1, :members) g CROSS JOIN LATERAL (SELECT CASE WHEN bench_h(g, 7)
          < 200 THEN bench_launch(1 + bench_h(g, 8) % :campaigns) + interval '3 h' END AS at) o""",
    # Each blast texts a window of the first 95% of members at a random offset. Statuses:
    # 2.5% of members have dead numbers (undelivered 30005/30006), 0.5% sit behind a
    # carrier filter (failed 30007 after Twilio accepted); per message 1% undelivered
    # 30003, 3% no receipt yet; rows of members opted out before the blast are skipped.
    "outbound": """INSERT INTO outbound_messages (id, campaign_id, member_id, phone, body,
          language, segments, status, attempts, twilio_sid, twilio_status, error_code,
          error_message, created_at, claimed_at, sent_at, delivered_at, updated_at)
        SELECT k + 1, c, id, phone, 'Hi ' || first_name || '! The contract vote is Tuesday.'
            || ' Reply YES if you are in, STOP to opt out.', language, 1, st,
          (st <> 'skipped')::int, CASE WHEN st <> 'skipped' THEN 'SM' || lpad(to_hex(k), 32,
            '0') END, CASE WHEN st <> 'skipped' THEN st END,
          CASE WHEN st = 'failed' THEN 30007 WHEN st <> 'undelivered' THEN NULL
            WHEN bad THEN 30005 + bench_h(id, 12) % 2 ELSE 30003 END,
          CASE WHEN st = 'skipped' THEN 'opted out before sending' END, bench_launch(c),
          t - interval '200 ms', CASE WHEN st <> 'skipped' THEN t END,
          CASE WHEN st = 'delivered' THEN t + interval '4 s' END,
          t + CASE WHEN st = 'delivered' THEN interval '4 s'
            WHEN st IN ('undelivered', 'failed') THEN interval '9 s' ELSE interval '0' END
        FROM (SELECT s.k, s.c, m.id, m.phone, m.first_name, m.language,
            bench_launch(s.c) + (s.k - (s.c - 1) * :per) * interval '5 ms' AS t,
            bench_h(m.id, 10) < 250 AS bad,
            CASE WHEN m.opted_out_at < bench_launch(s.c) THEN 'skipped'
              WHEN bench_h(m.id, 10) < 250 THEN 'undelivered'
              WHEN bench_h(m.id, 10) < 300 THEN 'failed'
              WHEN bench_h(s.k, 11) < 100 THEN 'undelivered'
              WHEN bench_h(s.k, 11) < 400 THEN 'sent' ELSE 'delivered' END AS st
          FROM (SELECT k, k / :per + 1 AS c FROM generate_series(0, :messages - 1) k) s
          JOIN members m
            ON m.id = 1 + (s.k % :per + bench_h(s.c, 9)::bigint * :span / 10000) % :span
          OFFSET 0) x""",  # OFFSET 0: compute st once per row, not once per use
    # 1.8% of delivered texts get a reply: half the keyword, the rest talk, HELP or START.
    "replies": """INSERT INTO inbound_messages (twilio_sid, from_phone, to_phone, body, params,
          member_id, campaign_id, classification, keyword, created_at, processed_at)
        SELECT 'SM' || lpad(id::text, 32, '0'), phone, '+16175550100', CASE cl
            WHEN 'keyword' THEN 'Yes' WHEN 'help' THEN 'HELP' WHEN 'opt_in' THEN 'START'
            ELSE 'What time is the vote?' END, '{}', member_id, campaign_id, cl,
          CASE WHEN cl = 'keyword' THEN 'yes' END, at, at + interval '1 s'
        FROM (SELECT o.*, o.delivered_at + (1 + bench_h(o.id, 22) % 3600) * interval '1 s' AS at,
            CASE WHEN bench_h(o.id, 21) < 5000 THEN 'keyword' WHEN bench_h(o.id, 21) < 9200
              THEN 'conversation' WHEN bench_h(o.id, 21) < 9700 THEN 'help' ELSE 'opt_in' END
              AS cl
          FROM outbound_messages o WHERE o.status = 'delivered' AND bench_h(o.id, 20) < 180) r""",
    "stops": """INSERT INTO inbound_messages (twilio_sid, from_phone, to_phone, body, params,
          member_id, campaign_id, classification, created_at, processed_at)
        SELECT 'SMSTOP' || lpad(m.id::text, 28, '0'), m.phone, '+16175550100', 'STOP', '{}',
          m.id, (SELECT o.campaign_id FROM outbound_messages o WHERE o.member_id = m.id
            AND o.sent_at < m.opted_out_at ORDER BY o.created_at DESC LIMIT 1),
          'opt_out', m.opted_out_at - interval '1 s', m.opted_out_at
        FROM members m WHERE m.opted_out_at IS NOT NULL""",
    "strangers": """INSERT INTO inbound_messages (twilio_sid, from_phone, body, params,
          classification, created_at, processed_at)
        SELECT 'SMX' || lpad(g::text, 31, '0'), '+1212' || lpad(g::text, 7, '0'), 'Who?', '{}',
          'conversation', bench_launch(2), bench_launch(2)
        FROM generate_series(1, :members / 1000) g""",
    "outcomes": """INSERT INTO outcomes (member_id, campaign_id, name, source, inbound_message_id,
          created_at)
        SELECT i.member_id, i.campaign_id, c.keywords ->> 'yes', 'sms_keyword', i.id,
          i.processed_at
        FROM inbound_messages i JOIN campaigns c ON c.id = i.campaign_id
        WHERE i.classification = 'keyword'""",
    "api outcomes": """INSERT INTO outcomes (member_id, name, source, created_at)
        SELECT g, 'attended_rally', 'api', bench_launch(1) + (g % 80) * interval '1 day'
        FROM generate_series(1, :members) g WHERE bench_h(g, 30) < 100""",
    "sequences": """SELECT setval('locals_id_seq', :locals), setval('members_id_seq', :members),
          setval('campaigns_id_seq', :campaigns), setval('outbound_messages_id_seq', :messages)""",
    # What the hooks leave behind: the earliest send, receipt, failure, reply and outcome.
    "firsts": """UPDATE members m SET first_texted_at = f.t, first_delivered_at = f.d,
          first_failed_at = f.f, first_replied_at = f.r, first_acted_at = f.a,
          first_volunteered_at = f.v
        FROM (SELECT member_id, min(t) t, min(d) d, min(f) f, min(r) r, min(a) a, min(v) v
          FROM (SELECT member_id, min(sent_at) t,
              min(delivered_at) FILTER (WHERE status = 'delivered') d,
              min(updated_at) FILTER (WHERE status IN :not_delivered) f,
              NULL::timestamptz r, NULL::timestamptz a, NULL::timestamptz v
            FROM outbound_messages GROUP BY member_id
            UNION ALL SELECT member_id, NULL, NULL, NULL, min(processed_at), NULL, NULL
            FROM inbound_messages WHERE member_id IS NOT NULL AND classification IN :talk
            GROUP BY member_id
            UNION ALL SELECT member_id, NULL, NULL, NULL, NULL,
              min(created_at) FILTER (WHERE name <> :volunteer),
              min(created_at) FILTER (WHERE name = :volunteer)
            FROM outcomes GROUP BY member_id) u
          GROUP BY member_id) f
        WHERE m.id = f.member_id""",
}

# Loading 5M rows is faster without outbound_messages' unique keys, foreign keys and
# indexes; they are rebuilt (and the keys checked) from their own definitions after it.
DEFER = """SELECT 'ALTER TABLE outbound_messages DROP CONSTRAINT ' || quote_ident(conname),
    'ALTER TABLE outbound_messages ADD CONSTRAINT ' || quote_ident(conname) || ' '
      || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = 'outbound_messages'::regclass AND contype IN ('u', 'f')
  UNION ALL SELECT 'DROP INDEX ' || quote_ident(indexname), indexdef FROM pg_indexes
  WHERE tablename = 'outbound_messages' AND indexname NOT IN (SELECT conname FROM pg_constraint)"""

# What you would write without the engagement columns: distinct members per measure.
BASELINE = """
SELECT m.local_id, m.members, coalesce(o.texted, 0), coalesce(o.delivered, 0),
  coalesce(o.failed, 0), coalesce(i.replied, 0), coalesce(c.acted, 0), coalesce(c.volunteers, 0),
  m.opted_out
FROM (SELECT local_id, count(*) members, count(opted_out_at) opted_out FROM members GROUP BY 1) m
LEFT JOIN (SELECT mm.local_id,
    count(DISTINCT x.member_id) FILTER (WHERE x.twilio_sid IS NOT NULL) texted,
    count(DISTINCT x.member_id) FILTER (WHERE x.status = 'delivered') delivered,
    count(DISTINCT x.member_id) FILTER (WHERE x.status IN :not_delivered) failed
  FROM outbound_messages x JOIN members mm ON mm.id = x.member_id GROUP BY 1) o
  ON o.local_id IS NOT DISTINCT FROM m.local_id
LEFT JOIN (SELECT mm.local_id, count(DISTINCT x.member_id) replied FROM inbound_messages x
  JOIN members mm ON mm.id = x.member_id WHERE x.classification IN :talk GROUP BY 1) i
  ON i.local_id IS NOT DISTINCT FROM m.local_id
LEFT JOIN (SELECT mm.local_id,
    count(DISTINCT x.member_id) FILTER (WHERE x.name <> :volunteer) acted,
    count(DISTINCT x.member_id) FILTER (WHERE x.name = :volunteer) volunteers
  FROM outcomes x JOIN members mm ON mm.id = x.member_id GROUP BY 1) c
  ON c.local_id IS NOT DISTINCT FROM m.local_id"""

# What the console's pages would run without the counters the database keeps: counts over
# every text. Each is timed beside textbank's answer and must count the same.
CONSOLE_BASELINES = {
    "list": """SELECT c.id, o.n, o.sent FROM campaigns c
      LEFT JOIN (SELECT campaign_id, count(*) n, count(twilio_sid) sent FROM outbound_messages
        GROUP BY 1) o ON o.campaign_id = c.id
      LEFT JOIN (SELECT campaign_id, count(*) waiting FROM conversations WHERE status = 'open'
        GROUP BY 1) w ON w.campaign_id = c.id
      ORDER BY c.id DESC LIMIT 25""",
    "page": """SELECT count(*), count(twilio_sid),
        count(*) FILTER (WHERE status = 'delivered'),
        count(*) FILTER (WHERE status IN :not_delivered),
        (SELECT count(*) FROM outbound_messages e WHERE e.campaign_id = :c
          AND e.error_code IS NOT NULL),
        (SELECT count(DISTINCT member_id) FROM inbound_messages i WHERE i.campaign_id = :c
          AND i.classification IN :talk)
      FROM outbound_messages WHERE campaign_id = :c""",
    "per-campaign": """SELECT o.campaign_id, o.members, o.texted, o.delivered, o.failed,
        coalesce(i.replied, 0) FROM (SELECT campaign_id, count(DISTINCT member_id) members,
          count(DISTINCT member_id) FILTER (WHERE twilio_sid IS NOT NULL) texted,
          count(DISTINCT member_id) FILTER (WHERE status = 'delivered') delivered,
          count(DISTINCT member_id) FILTER (WHERE status IN :not_delivered) failed
        FROM outbound_messages GROUP BY 1) o
      LEFT JOIN (SELECT campaign_id, count(DISTINCT member_id) replied FROM inbound_messages
        WHERE classification IN :talk GROUP BY 1) i ON i.campaign_id = o.campaign_id
      UNION ALL SELECT NULL, count(DISTINCT member_id),
        count(DISTINCT member_id) FILTER (WHERE twilio_sid IS NOT NULL),
        count(DISTINCT member_id) FILTER (WHERE status = 'delivered'),
        count(DISTINCT member_id) FILTER (WHERE status IN :not_delivered),
        (SELECT count(DISTINCT member_id) FROM inbound_messages WHERE classification IN :talk
          AND campaign_id IS NOT NULL)
      FROM outbound_messages""",
    "filtered": """SELECT count(DISTINCT o.member_id),
        count(DISTINCT o.member_id) FILTER (WHERE o.twilio_sid IS NOT NULL
          AND o.sent_at >= :since AND o.sent_at < :until),
        count(DISTINCT o.member_id) FILTER (WHERE o.status = 'delivered'
          AND o.delivered_at >= :since AND o.delivered_at < :until),
        count(DISTINCT o.member_id) FILTER (WHERE o.status IN :not_delivered
          AND o.updated_at >= :since AND o.updated_at < :until),
        (SELECT count(DISTINCT i.member_id) FROM inbound_messages i
          JOIN members im ON im.id = i.member_id JOIN locals il ON il.id = im.local_id
          WHERE i.campaign_id = :c AND il.number = :local AND i.classification IN :talk
          AND i.created_at >= :since AND i.created_at < :until)
      FROM outbound_messages o JOIN members m ON m.id = o.member_id
        JOIN locals l ON l.id = m.local_id
      WHERE o.campaign_id = :c AND l.number = :local""",
}

PARAMS = {
    "not_delivered": [str(s) for s in NOT_DELIVERED],
    "talk": [str(c) for c in CONVERSATIONAL],
    "volunteer": VOLUNTEER_OUTCOME,
}


def sql(statement: str):
    """text() with the list parameters it uses bound as IN (...) lists."""
    lists = [k for k, v in PARAMS.items() if isinstance(v, list) and f":{k}" in statement]
    return text(statement).bindparams(*[bindparam(k, expanding=True) for k in lists])


def build(engine, members: int, messages: int, steps: dict) -> None:
    per = -(-messages // CAMPAIGNS)
    span = members * 95 // 100
    if per > span:
        sys.exit(f"--messages {messages:,} needs at least {per * 100 // 95 + 1:,} members")
    params = {"members": members, "messages": messages, "per": per, "span": span,
              "locals": LOCALS, "campaigns": CAMPAIGNS, **PARAMS}  # fmt: skip
    with engine.connect() as conn:
        for statement in SETUP:
            conn.exec_driver_sql(statement)
        for name, statement in BUILD.items():
            if name == "outbound":
                deferred = conn.execute(text(DEFER)).all()
                for drop, _ in deferred:
                    conn.exec_driver_sql(drop)
            with stopwatch(steps, name):
                conn.execute(sql(statement), params)
                conn.commit()
            if name == "outbound":
                with stopwatch(steps, "outbound keys"):
                    for _, create in deferred:
                        conn.exec_driver_sql(create)
                    conn.commit()
        conn.exec_driver_sql("DROP FUNCTION bench_h, bench_launch")
        conn.commit()
    autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as conn, stopwatch(steps, "vacuum"):
        conn.exec_driver_sql("VACUUM (FULL) members")  # drop the row versions before UPDATE
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def reusable(args):
    """The existing data set, migrated, when it has the members and texts asked for."""
    url = normalize_database_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        with engine.connect() as conn:
            members = conn.scalar(text("SELECT count(*) FROM members"))
            messages = conn.scalar(text("SELECT count(*) FROM outbound_messages"))
    except Exception:  # no such database, or not ours: build a fresh one
        engine.dispose()
        return None
    if (members, messages) != (args.members, args.messages):
        engine.dispose()
        return None
    return engine


def timed(sessions, fn, runs: int) -> tuple[float, int, object]:
    """Median ms over `runs` after a warm-up (fewer past BUDGET_S), runs done, last answer."""
    times: list[float] = []
    while len(times) <= runs and (len(times) < 2 or sum(times[1:]) < BUDGET_S * 1000):
        start = time.perf_counter()
        with session_scope(sessions) as session:
            result = fn(session)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:] or times), len(times[1:]) or 1, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep a data set of this size")
    args = parser.parse_args()

    engine = reusable(args) if args.reuse else None
    steps: dict[str, float] = {}
    if engine is None:
        engine = scratch_database()
        with stopwatch(steps, "total"):
            build(engine, args.members, args.messages, steps)
    else:
        steps["total"] = 0.0
    sessions = make_session_factory(engine)
    with session_scope(sessions) as s:
        size = {t: s.scalar(select(func.count()).select_from(table(t))) for t in TABLES}
        mb = s.scalar(text("SELECT pg_total_relation_size('members') / 1e6"))
        names = dict(s.execute(text("SELECT id, number FROM locals")).all())

    def by_name(counts: dict) -> dict:
        return {names.get(k, "(no local)"): v for k, v in counts.items()}

    def baseline(session) -> dict:
        rows = session.execute(sql(BASELINE), PARAMS)
        return by_name({r[0]: dict(zip(MEASURES, r[1:], strict=True)) for r in rows})

    jobs = [  # label, what to run, how many timed runs
        ("baseline  plain GROUP BY over event tables", baseline, args.runs),
        ("textbank  per-local report (fast path)",
         lambda s: {r["local"]: r for r in engagement(s, "local")["rows"]}, args.runs),
        ("textbank  per-campaign report", lambda s: engagement(s, "campaign"), args.runs),
        (f"textbank  per-local, campaign {CAMPAIGNS} only",
         lambda s: engagement(s, "local", ReportFilter(campaign_id=CAMPAIGNS)), args.runs),
        ("textbank  per-local recount (no fast path)",
         lambda s: by_name(_recount(s, "local", ReportFilter())), 0),
    ]  # fmt: skip
    timings = {label: timed(sessions, fn, runs) for label, fn, runs in jobs}
    load = os.getloadavg()[0]
    (base_ms, _, base), (fast_ms, _, got) = timings[jobs[0][0]], timings[jobs[1][0]]

    print(
        f"data set: {size['members']:,} members in {size['locals']} locals, "
        f"{size['campaigns']} campaigns, {size['outbound_messages']:,} outbound, "
        f"{size['inbound_messages']:,} inbound, {size['outcomes']:,} outcomes; "
        f"members table {mb:,.0f} MB; database: {engine.url.database}"
    )
    detail = ", ".join(f"{k} {v:.1f}" for k, v in steps.items() if k != "total")
    print(f"built in {steps['total']:.1f} s ({detail})")
    totals = {m: sum(v[m] for v in base.values()) for m in MEASURES}
    print("totals (event tables): " + ", ".join(f"{m} {n:,}" for m, n in totals.items()))
    print(f"load average while timing: {load:.1f} on {os.cpu_count()} CPUs")
    for label, (ms, runs, _) in timings.items():
        print(f"{label:<42}: {ms:9.1f} ms  ({ms / base_ms:.3f}x the baseline; median of {runs})")

    mismatch = False
    for name, theirs in (("plain GROUP BY", base), ("textbank recount", timings[jobs[4][0]][2])):
        off = {m: [(k, got[k][m], theirs.get(k, {}).get(m, 0)) for k in got
                   if got[k][m] != theirs.get(k, {}).get(m, 0)] for m in MEASURES}  # fmt: skip
        off = {m: rows for m, rows in off.items() if rows}
        bad = bool(off) or bool(set(theirs) - set(got))
        mismatch = mismatch or bad
        cells = f"{len(got)} locals x {len(MEASURES)} measures"
        print(f"counts: fast path vs {name} ({cells}): {'MISMATCH' if bad else 'counts match'}")
        for m, rows in off.items():
            k, a, b = rows[0]
            delta = sum(r[1] - r[2] for r in rows)
            print(f"  {m}: {len(rows)} locals differ, fast path {delta:+,} in all "
                  f"(e.g. local {k}: {a:,} vs {b:,})")  # fmt: skip
    verdict = "meets" if fast_ms < TARGET_MS else "MISSES"
    print(
        f"target: per-local report under {TARGET_MS:.0f} ms on {args.members:,} members / "
        f"{args.messages:,} messages -> {verdict}"
    )
    mismatch = console(sessions, args.runs) or mismatch
    sys.exit(1 if mismatch else 0)


def console(sessions, runs: int) -> bool:
    """The campaign console's four reads beside the plain queries they replace; True if
    any counts differ."""
    from textbank.campaigns.listing import list_campaigns
    from textbank.campaigns.watching import campaign_view
    from textbank.models import Campaign

    c = CAMPAIGNS // 2
    with session_scope(sessions) as s:
        launched = s.get(Campaign, c).launched_at
        local = s.scalar(text("SELECT l.number FROM locals l JOIN members m ON m.local_id = l.id"
                              " GROUP BY 1 ORDER BY count(*) DESC OFFSET 5 LIMIT 1"))  # fmt: skip
    since, until = launched - timedelta(days=1), launched + timedelta(days=2)
    params = {**PARAMS, "c": c, "local": local, "since": since, "until": until}

    def plain(name: str):
        return lambda s: s.execute(sql(CONSOLE_BASELINES[name]), params).all()

    def page(s):
        v = campaign_view(s, s.get(Campaign, c))
        st = v.stats
        return [(st["members"], st["sent"], st["delivered"], st["failed"],
                 sum(e["count"] for e in v.errors), st["replied"])]  # fmt: skip

    def per_campaign(s):
        r = engagement(s, "campaign")
        keys = ("members", "texted", "delivered", "failed", "replied")
        rows = [(x["campaign_id"], *(x[k] for k in keys)) for x in r["rows"]]
        return [*rows, (None, *(r["total"][k] for k in keys))]

    def filtered(s):
        f = ReportFilter(campaign_id=c, local=local, since=since, until=until)
        (row,) = engagement(s, "local", f)["rows"] or [dict.fromkeys(MEASURES, 0)]
        return [tuple(row[k] for k in ("members", "texted", "delivered", "failed", "replied"))]

    cases = [
        ("campaign list (newest 25)", "list",
         lambda s: [(x.campaign.id, x.counts.total or None, x.counts.sent or None)
                    for x in list_campaigns(s, limit=25).campaigns]),
        (f"a campaign's page (campaign {c})", "page", page),
        ("per-campaign report with its total", "per-campaign", per_campaign),
        (f"per-local: campaign {c}, local {local}, 3 days", "filtered", filtered),
    ]  # fmt: skip
    print(f"console and filtered reports (target under {TARGET_MS:.0f} ms each):")
    bad = False
    for label, name, fn in cases:
        base_ms, _, theirs = timed(sessions, plain(name), max(1, runs // 2))
        ms, n, ours = timed(sessions, fn, runs)
        same = sorted(map(tuple, theirs), key=str) == sorted(map(tuple, ours), key=str)
        bad = bad or not same
        verdict = "meets" if ms < TARGET_MS else "MISSES"
        print(f"  {label:<40}: {ms:8.1f} ms vs the plain query {base_ms:8.1f} ms "
              f"({ms / base_ms:.3f}x; median of {n}); {verdict}; "
              f"{'counts match' if same else 'MISMATCH'}")  # fmt: skip
        if not same:
            print(f"    textbank {sorted(ours, key=str)[:3]}")
            print(f"    plain    {sorted(theirs, key=str)[:3]}")
    return bad


if __name__ == "__main__":
    main()
