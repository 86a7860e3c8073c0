"""compliance texts: an outbound text the opt-out list lets through once (a STOP confirmation)

Revision ID: 0015_compliance_texts
Revises: 0014_audience_changes
Create Date: 2026-12-02 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_compliance_texts"
down_revision = "0014_audience_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, on SQLite too: batch mode there copies the table, and the copy
    # would lose the triggers that keep each campaign's counts (0010_campaign_console).
    op.add_column(
        "outbound_messages",
        sa.Column("compliance", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_outbound_messages_compliance", "outbound_messages", ["campaign_id", "member_id"],
        postgresql_where=sa.text("compliance"), sqlite_where=sa.text("compliance"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_compliance", table_name="outbound_messages")
    op.drop_column("outbound_messages", "compliance")  # SQLite 3.35+ drops it in place
