"""campaign console: schedule, archive, and per-campaign message counts kept by triggers

Revision ID: 0010_campaign_console
Revises: 0009_p2p_console
Create Date: 2026-12-02 09:45:00
"""

import sqlalchemy as sa
from alembic import op

import textbank.models.base

revision = "0010_campaign_console"
down_revision = "0009_p2p_console"
branch_labels = None
depends_on = None

# Only a campaign's first texts are counted: a volunteer's replies in a conversation
# (conversation_id set, 0009) are rows of outbound_messages too, but no member of the audience.
# Each PostgreSQL backend counts into rows of its own (shard = its pid), so two workers
# recording texts of one campaign never wait on, or deadlock over, the same counter row.
PG_FUNCTIONS = {
    "insert": """
        INSERT INTO campaign_message_counts AS c (campaign_id, status, sent, shard, n, segments)
        SELECT campaign_id, status, twilio_sid IS NOT NULL, pg_backend_pid(), count(*),
          sum(segments)
        FROM new_rows WHERE conversation_id IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (campaign_id, status, sent, shard)
        DO UPDATE SET n = c.n + excluded.n, segments = c.segments + excluded.segments""",
    "update": """
        INSERT INTO campaign_message_counts AS c (campaign_id, status, sent, shard, n, segments)
        SELECT campaign_id, status, sent, pg_backend_pid(), sum(d), sum(d * segments) FROM (
          SELECT campaign_id, status, twilio_sid IS NOT NULL AS sent, -1 AS d, segments
          FROM old_rows WHERE conversation_id IS NULL
          UNION ALL
          SELECT campaign_id, status, twilio_sid IS NOT NULL, 1, segments FROM new_rows
          WHERE conversation_id IS NULL) x
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0 OR sum(d * segments) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (campaign_id, status, sent, shard)
        DO UPDATE SET n = c.n + excluded.n, segments = c.segments + excluded.segments""",
    # A campaign deleted takes its counters with it (cascade): only existing rows move.
    "delete": """
        UPDATE campaign_message_counts c SET n = c.n - x.n, segments = c.segments - x.segments
        FROM (SELECT campaign_id, status, twilio_sid IS NOT NULL AS sent, count(*) AS n,
                sum(segments) AS segments
              FROM old_rows WHERE conversation_id IS NULL GROUP BY 1, 2, 3) x
        WHERE c.campaign_id = x.campaign_id AND c.status = x.status AND c.sent = x.sent
          AND c.shard = (SELECT min(shard) FROM campaign_message_counts m
                         WHERE m.campaign_id = x.campaign_id AND m.status = x.status
                           AND m.sent = x.sent)""",
}
PG_TRANSITION = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows",
                 "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}  # fmt: skip

SQLITE_UPSERT = """INSERT INTO campaign_message_counts
    (campaign_id, status, sent, shard, n, segments)
    VALUES ({row}.campaign_id, {row}.status, {row}.twilio_sid IS NOT NULL, 0, {d},
      {d} * {row}.segments)
    ON CONFLICT (campaign_id, status, sent, shard)
    DO UPDATE SET n = n + {d}, segments = segments + {d} * {row}.segments;"""
SQLITE_TRIGGERS = {
    "insert": (
        "AFTER INSERT ON outbound_messages WHEN NEW.conversation_id IS NULL "
        f"BEGIN {SQLITE_UPSERT.format(row='NEW', d=1)} END"
    ),
    "update": (
        "AFTER UPDATE OF status, twilio_sid, segments ON outbound_messages "
        "WHEN NEW.conversation_id IS NULL AND (OLD.status IS NOT "
        "NEW.status OR (OLD.twilio_sid IS NULL) <> (NEW.twilio_sid IS NULL) "
        "OR OLD.segments <> NEW.segments) BEGIN "
        f"{SQLITE_UPSERT.format(row='OLD', d=-1)} {SQLITE_UPSERT.format(row='NEW', d=1)} END"
    ),
    "delete": (
        "AFTER DELETE ON outbound_messages WHEN OLD.conversation_id IS NULL "
        "BEGIN UPDATE campaign_message_counts SET n = n - 1, "
        "segments = segments - OLD.segments "
        "WHERE campaign_id = OLD.campaign_id AND status = OLD.status AND shard = 0 "
        "AND sent = (OLD.twilio_sid IS NOT NULL); END"
    ),
}


def upgrade() -> None:
    # HELP and STATS are no longer replies: a member whose first "reply" was one of them
    # gets the time of their first keyword or words of their own, or none.
    op.execute(
        "UPDATE members SET first_replied_at = (SELECT min(coalesce(i.processed_at, "
        "i.created_at)) FROM inbound_messages i WHERE i.member_id = members.id AND "
        "i.classification IN ('keyword', 'conversation')) WHERE id IN (SELECT member_id "
        "FROM inbound_messages WHERE classification IN ('help', 'stats') "
        "AND member_id IS NOT NULL)"
    )
    with op.batch_alter_table("campaigns") as batch:
        # When a scheduled launch is due; NULL for a campaign launched by hand or not yet.
        batch.add_column(
            sa.Column("scheduled_at", textbank.models.base.UTCDateTime(timezone=True))
        )
        # Archived campaigns leave the list (and keep every count).
        batch.add_column(sa.Column("archived_at", textbank.models.base.UTCDateTime(timezone=True)))
    op.create_table(
        "campaign_message_counts",
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "status", "sent", "shard"),
    )
    op.execute(
        "INSERT INTO campaign_message_counts (campaign_id, status, sent, shard, n, segments) "
        "SELECT campaign_id, status, twilio_sid IS NOT NULL, 0, count(*), sum(segments) "
        "FROM outbound_messages WHERE conversation_id IS NULL "
        "GROUP BY campaign_id, status, twilio_sid IS NOT NULL"
    )
    # A local's members by id, from the index alone: a report filtered to one local and
    # one campaign pairs them with the campaign's (campaign_id, member_id) key.
    op.create_index("ix_members_local_member", "members", ["local_id", "id"])
    # The few texts with an error, by campaign: delivery errors and carrier opt-outs
    # (21610) of a campaign without reading its every text. Only failing texts enter it.
    op.create_index(
        "ix_outbound_messages_campaign_error",
        "outbound_messages",
        ["campaign_id", "error_code", "member_id"],
        postgresql_where=sa.text("error_code IS NOT NULL"),
        sqlite_where=sa.text("error_code IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for event, body in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION campaign_counts_{event}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER outbound_counts_{event} AFTER {event.upper()} ON "
                f"outbound_messages REFERENCING {PG_TRANSITION[event]} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION campaign_counts_{event}()"
            )
    else:
        for event, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER outbound_counts_{event} {body}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in PG_FUNCTIONS:
        op.execute(
            f"DROP TRIGGER outbound_counts_{event}" + (" ON outbound_messages" if postgres else "")
        )
        if postgres:
            op.execute(f"DROP FUNCTION campaign_counts_{event}()")
    op.drop_table("campaign_message_counts")
    op.drop_index("ix_members_local_member", table_name="members")
    op.drop_index("ix_outbound_messages_campaign_error", table_name="outbound_messages")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("archived_at")
        batch.drop_column("scheduled_at")
