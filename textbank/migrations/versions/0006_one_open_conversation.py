"""one open conversation per person and campaign

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WHO = ("member_id", "contact_id")


def upgrade() -> None:
    # Replies racing each other could open two conversations for one person and campaign;
    # keep the newest open and close the rest, so the unique indexes can be built.
    op.execute(
        "UPDATE conversations SET status = 'closed' WHERE status = 'open' AND id NOT IN ("
        " SELECT max(id) FROM conversations WHERE status = 'open'"
        " GROUP BY member_id, contact_id, coalesce(campaign_id, 0))"
    )
    for who in WHO:
        where = sa.text(f"status = 'open' AND {who} IS NOT NULL")
        op.create_index(
            f"uq_conversations_open_{who}",
            "conversations",
            [who, sa.text("coalesce(campaign_id, 0)")],
            unique=True,
            postgresql_where=where,
            sqlite_where=where,
        )


def downgrade() -> None:
    for who in WHO:
        op.drop_index(f"uq_conversations_open_{who}", table_name="conversations")
