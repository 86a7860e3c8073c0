"""the volunteer console: P2P campaigns, batches, conversations worked by volunteers

Revision ID: 0009_p2p_console
Revises: 0011_people_console
Create Date: 2026-12-02 09:50:00
"""

import sqlalchemy as sa
from alembic import op

from textbank.models.base import UTCDateTime

revision = "0009_p2p_console"
down_revision = "0011_people_console"
branch_labels = None
depends_on = None

HELD_POOL = sa.text("status = 'held' AND volunteer_id IS NULL")
FIRST_TEXT = sa.text("conversation_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("mode", sa.String(8), nullable=False, server_default="blast"))
        batch.add_column(
            sa.Column("canned_responses", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("survey", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("batch_size", sa.Integer(), nullable=False, server_default="200"))
        batch.add_column(
            sa.Column("reclaim_minutes", sa.Integer(), nullable=False, server_default="60")
        )
        batch.add_column(
            sa.Column("volunteer_replies", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("languages", sa.JSON(), nullable=False, server_default='["en"]'))
        batch.add_column(
            sa.Column("large_type", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Plain ADD COLUMNs, not a batch: SQLite's table copy would lose the expression indexes
    # of one open conversation per person (0006), which reflection cannot see.
    for name in ("volunteer_id", "closed_by"):
        op.add_column("conversations", sa.Column(name, sa.Integer(), nullable=True))
    for name in ("assigned_at", "answered_at", "closed_at"):
        op.add_column("conversations", sa.Column(name, UTCDateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        for name in ("volunteer_id", "closed_by"):
            op.create_foreign_key(
                f"fk_conversations_{name}_users", "conversations", "users", [name], ["id"],
                ondelete="SET NULL",
            )  # fmt: skip
    op.create_index("ix_conversations_volunteer_id", "conversations", ["volunteer_id"])
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("volunteer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assigned_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("request_key", sa.String(64), nullable=True))
        batch.create_foreign_key(
            "fk_outbound_messages_volunteer_id_users", "users", ["volunteer_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch.create_foreign_key(
            "fk_outbound_messages_conversation_id_conversations", "conversations",
            ["conversation_id"], ["id"], ondelete="CASCADE",
        )  # fmt: skip
        batch.create_unique_constraint("uq_outbound_messages_request_key", ["request_key"])
        batch.drop_constraint("uq_outbound_messages_campaign_id_member_id", type_="unique")
    op.create_index(
        "uq_outbound_messages_first_text", "outbound_messages", ["campaign_id", "member_id"],
        unique=True, postgresql_where=FIRST_TEXT, sqlite_where=FIRST_TEXT,
    )  # fmt: skip
    op.create_index(
        "ix_outbound_messages_p2p_pool", "outbound_messages", ["campaign_id", "language", "id"],
        postgresql_where=HELD_POOL, sqlite_where=HELD_POOL,
    )  # fmt: skip
    op.create_index(
        "ix_outbound_messages_volunteer", "outbound_messages",
        ["volunteer_id", "campaign_id", "status"],
    )  # fmt: skip
    op.create_index(
        "ix_outbound_messages_conversation_id", "outbound_messages", ["conversation_id"]
    )


def downgrade() -> None:
    for name in (
        "ix_outbound_messages_conversation_id", "ix_outbound_messages_volunteer",
        "ix_outbound_messages_p2p_pool", "uq_outbound_messages_first_text",
    ):  # fmt: skip
        op.drop_index(name, table_name="outbound_messages")
    op.execute("DELETE FROM outbound_messages WHERE conversation_id IS NOT NULL")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.create_unique_constraint(
            "uq_outbound_messages_campaign_id_member_id", ["campaign_id", "member_id"]
        )
        batch.drop_constraint("uq_outbound_messages_request_key", type_="unique")
        batch.drop_constraint("fk_outbound_messages_conversation_id_conversations", "foreignkey")
        batch.drop_constraint("fk_outbound_messages_volunteer_id_users", "foreignkey")
        for column in ("request_key", "conversation_id", "assigned_at", "volunteer_id"):
            batch.drop_column(column)
    op.drop_index("ix_conversations_volunteer_id", table_name="conversations")
    if op.get_bind().dialect.name != "sqlite":
        for name in ("volunteer_id", "closed_by"):
            op.drop_constraint(f"fk_conversations_{name}_users", "conversations", "foreignkey")
    for column in ("closed_by", "closed_at", "answered_at", "assigned_at", "volunteer_id"):
        op.drop_column("conversations", column)  # SQLite 3.35+ drops columns in place
    with op.batch_alter_table("users") as batch:
        batch.drop_column("large_type")
        batch.drop_column("languages")
    with op.batch_alter_table("campaigns") as batch:
        for column in (
            "volunteer_replies", "reclaim_minutes", "batch_size", "survey", "canned_responses",
            "mode",
        ):  # fmt: skip
            batch.drop_column(column)
