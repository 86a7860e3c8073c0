"""launch progress and send quarantine

Revision ID: 0007_pipeline
Revises: 0006
Create Date: 2026-12-02 09:50:00
"""

import sqlalchemy as sa
from alembic import op

import textbank.models.base

revision = "0007_pipeline"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        # How many members the audience held when the snapshot began: its progress bar's end.
        batch.add_column(sa.Column("audience_size", sa.Integer(), nullable=True))
        # Members the snapshot has examined so far (snapshotted or skipped).
        batch.add_column(
            sa.Column("snapshot_done", sa.Integer(), nullable=False, server_default="0")
        )
        # When the snapshot finished; a launched campaign without it is still snapshotting.
        batch.add_column(
            sa.Column("snapshotted_at", textbank.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    # Campaigns launched before this revision snapshotted inside their launch request.
    op.execute(
        "UPDATE campaigns SET snapshotted_at = launched_at, snapshot_done = skipped_opted_out"
        " + skipped_invalid + skipped_duplicate + (SELECT count(*) FROM outbound_messages o"
        " WHERE o.campaign_id = campaigns.id) WHERE status NOT IN ('draft', 'launching')"
    )
    op.execute("UPDATE campaigns SET audience_size = snapshot_done WHERE snapshotted_at IS NOT NULL")
    with op.batch_alter_table("outbound_messages") as batch:
        # When the last send whose outcome is unknown began: the quarantine runs from here.
        batch.add_column(
            sa.Column("attempted_at", textbank.models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("attempted_at")
    with op.batch_alter_table("campaigns") as batch:
        for name in ("snapshotted_at", "snapshot_done", "audience_size"):
            batch.drop_column(name)
