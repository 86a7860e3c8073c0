"""reply answers: a keyword's thanks is an outbound text that answers one inbound reply

Revision ID: 0016_reply_answers
Revises: 0015_compliance_texts
Create Date: 2026-12-02 14:30:00

The worker answers a keyword through the send pipeline (issue 17), so the thanks is a row
of outbound_messages: neither a campaign's first text (unique per member, counted in the
campaign's figures) nor a volunteer's reply. The first-text predicate of the unique index
and of the count triggers (0010) gains `inbound_message_id IS NULL`.
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0016_reply_answers"
down_revision = "0015_compliance_texts"
branch_labels = None
depends_on = None

OLD, NEW = "conversation_id IS NULL", "conversation_id IS NULL AND inbound_message_id IS NULL"


def _counts():
    """0010's trigger bodies, whose first-text predicate this revision widens."""
    path = Path(__file__).with_name("0010_campaign_console.py")
    spec = importlib.util.spec_from_file_location("textbank_migration_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sqlite_trigger(body: str, new: bool) -> str:
    if not new:
        return body
    for row in ("NEW", "OLD"):
        body = body.replace(f"{row}.{OLD}", f"{row}.{OLD} AND {row}.inbound_message_id IS NULL")
    return body


def _retrigger(new: bool) -> None:
    counts = _counts()
    if op.get_bind().dialect.name == "postgresql":
        for event, body in counts.PG_FUNCTIONS.items():
            body = body.replace(OLD, NEW) if new else body
            op.execute(
                f"CREATE OR REPLACE FUNCTION campaign_counts_{event}() RETURNS trigger "
                f"LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
            )
        return
    for event, body in counts.SQLITE_TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS outbound_counts_{event}")  # a batch copy drops them
        op.execute(f"CREATE TRIGGER outbound_counts_{event} {_sqlite_trigger(body, new)}")


def _first_text_index(predicate: str) -> None:
    op.drop_index("uq_outbound_messages_first_text", table_name="outbound_messages")
    op.create_index(
        "uq_outbound_messages_first_text",
        "outbound_messages",
        ["campaign_id", "member_id"],
        unique=True,
        postgresql_where=sa.text(predicate),
        sqlite_where=sa.text(predicate),
    )


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("inbound_message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_outbound_messages_inbound_message_id_inbound_messages",
            "inbound_messages",
            ["inbound_message_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_unique_constraint(
            "uq_outbound_messages_inbound_message_id", ["inbound_message_id"]
        )
    _first_text_index(NEW)
    _retrigger(new=True)


def downgrade() -> None:
    op.execute("DELETE FROM outbound_messages WHERE inbound_message_id IS NOT NULL")
    _retrigger(new=False)
    _first_text_index(OLD)
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_constraint("uq_outbound_messages_inbound_message_id", type_="unique")
        batch.drop_constraint(
            "fk_outbound_messages_inbound_message_id_inbound_messages", type_="foreignkey"
        )
        batch.drop_column("inbound_message_id")
