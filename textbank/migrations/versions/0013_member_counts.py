"""member counts: members per local and engagement step, kept by triggers; a member's calls

Revision ID: 0013_member_counts
Revises: 0012_voice
Create Date: 2026-12-02 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_member_counts"
down_revision = "0012_voice"
branch_labels = None
depends_on = None

# The per-local report and the per-campaign report's total count members per local and
# engagement first (texted, delivered, …): one pass over every member (a second or more on a
# big union's million, and JIT compiling it on top), now a few counter rows per local.
# As with campaign_message_counts (0010), each PostgreSQL backend counts into rows of its own
# (shard = its pid): writers never wait on each other. A member with no local is local_key 0.
STEPS = ("texted", "delivered", "failed", "replied", "acted", "volunteered")
COUNTED = [("members", "1")] + [(s, f"first_{s}_at") for s in STEPS] + [
    ("opted_out", "opted_out_at")
]
NAMES = ", ".join(name for name, _ in COUNTED)


def _flags(row: str, sign: str) -> str:
    """The row's counts: 1 per member and per step reached, times sign."""
    parts = [f"{sign}1"] + [
        f"{sign}({row}{column} IS NOT NULL)::int" for _, column in COUNTED[1:]
    ]
    return ", ".join(parts)


PG_SELECTS = {
    "insert": f"SELECT coalesce(local_id, 0), {_flags('', '')} FROM new_rows",
    "delete": f"SELECT coalesce(local_id, 0), {_flags('', '-')} FROM old_rows",
}
PG_SELECTS["update"] = PG_SELECTS["insert"] + " UNION ALL " + PG_SELECTS["delete"]
PG_BODY = f"""
    INSERT INTO member_counts AS c (local_key, shard, {NAMES})
    SELECT k, pg_backend_pid(), {", ".join(f"sum({n})" for n, _ in COUNTED)}
    FROM ({{rows}}) AS x (k, {NAMES})
    GROUP BY k HAVING {" OR ".join(f"sum({n}) <> 0" for n, _ in COUNTED)} ORDER BY k
    ON CONFLICT (local_key, shard) DO UPDATE SET
      {", ".join(f"{n} = c.{n} + excluded.{n}" for n, _ in COUNTED)}"""
PG_TRANSITION = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows",
                 "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}  # fmt: skip


def _sqlite_upsert(row: str, sign: str) -> str:
    flags = ", ".join(
        [f"{sign}1"] + [f"{sign}({row}.{column} IS NOT NULL)" for _, column in COUNTED[1:]]
    )
    return (
        f"INSERT INTO member_counts (local_key, shard, {NAMES}) "
        f"VALUES (coalesce({row}.local_id, 0), 0, {flags}) "
        f"ON CONFLICT (local_key, shard) DO UPDATE SET "
        + ", ".join(f"{n} = {n} + excluded.{n}" for n, _ in COUNTED)
        + ";"
    )


WATCHED = ", ".join(["local_id"] + [column for _, column in COUNTED[1:]])
SQLITE_TRIGGERS = {
    "insert": f"AFTER INSERT ON members BEGIN {_sqlite_upsert('NEW', '')} END",
    "update": (
        f"AFTER UPDATE OF {WATCHED} ON members BEGIN "
        f"{_sqlite_upsert('OLD', '-')} {_sqlite_upsert('NEW', '')} END"
    ),
    "delete": f"AFTER DELETE ON members BEGIN {_sqlite_upsert('OLD', '-')} END",
}


def upgrade() -> None:
    op.create_table(
        "member_counts",
        sa.Column("local_key", sa.Integer(), nullable=False),  # locals.id, 0 for none
        sa.Column("shard", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name, _ in COUNTED),
        sa.PrimaryKeyConstraint("local_key", "shard"),
    )
    op.execute(
        f"INSERT INTO member_counts (local_key, shard, {NAMES}) "
        "SELECT coalesce(local_id, 0), 0, count(*), "
        + ", ".join(f"count({column})" for _, column in COUNTED[1:])
        + " FROM members GROUP BY coalesce(local_id, 0)"
    )
    if op.get_bind().dialect.name == "postgresql":
        for event, rows in PG_SELECTS.items():
            op.execute(
                f"CREATE FUNCTION member_counts_{event}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {PG_BODY.format(rows=rows)}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER member_counts_{event} AFTER {event.upper()} ON members "
                f"REFERENCING {PG_TRANSITION[event]} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION member_counts_{event}()"
            )
    else:
        for event, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER member_counts_{event} {body}")
    # Members in a campaign never texted: the few members never texted, paired with the
    # texts Twilio never took, both from an index alone (no pass over members or texts).
    op.create_index(
        "ix_members_never_texted",
        "members",
        ["id"],
        postgresql_where=sa.text("first_texted_at IS NULL"),
        sqlite_where=sa.text("first_texted_at IS NULL"),
    )
    op.create_index(
        "ix_outbound_messages_unsent_member",
        "outbound_messages",
        ["member_id"],
        postgresql_where=sa.text("twilio_sid IS NULL AND conversation_id IS NULL"),
        sqlite_where=sa.text("twilio_sid IS NULL AND conversation_id IS NULL"),
    )


    # A member's page lists their calls (its timeline) without reading a campaign's calls.
    op.create_index("ix_calls_member_created", "calls", ["member_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_member_created", table_name="calls")
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_outbound_messages_unsent_member", table_name="outbound_messages")
    op.drop_index("ix_members_never_texted", table_name="members")
    for event in PG_SELECTS:
        op.execute(f"DROP TRIGGER member_counts_{event}" + (" ON members" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION member_counts_{event}()")
    op.drop_table("member_counts")
