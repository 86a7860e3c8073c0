"""voice campaigns: calls, call opt-outs, recordings, the campaign's voice settings

Revision ID: 0012_voice
Revises: 0010_campaign_console
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from textbank.models.base import UTCDateTime

revision = "0012_voice"
down_revision = "0010_campaign_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("voice", sa.JSON(), nullable=True))
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_after", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("placements", sa.Integer(), nullable=False),
        sa.Column("twilio_sid", sa.String(length=34), nullable=True),
        sa.Column("twilio_status", sa.String(length=16), nullable=True),
        sa.Column("answered_by", sa.String(length=24), nullable=True),
        sa.Column("digits", sa.String(length=8), nullable=True),
        sa.Column("voicemail_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("placed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_calls_campaign_id_campaigns"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_calls_member_id_members"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("campaign_id", "member_id", name=op.f("uq_calls_campaign_id_member_id")),
        sa.UniqueConstraint("twilio_sid", name=op.f("uq_calls_twilio_sid")),
    )  # fmt: skip
    op.create_index("ix_calls_campaign_status", "calls", ["campaign_id", "status", "id"])
    op.create_index("ix_calls_phone", "calls", ["phone"])
    op.create_table(
        "call_opt_outs",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_call_opt_outs_member_id_members"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_call_opt_outs_campaign_id_campaigns"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_call_opt_outs")),
    )  # fmt: skip
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=43), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_call_recordings_campaign_id_campaigns"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
        sa.UniqueConstraint("campaign_id", "language", "part",
                            name=op.f("uq_call_recordings_campaign_id_language_part")),
        sa.UniqueConstraint("token", name=op.f("uq_call_recordings_token")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("call_recordings")
    op.drop_table("call_opt_outs")
    op.drop_index("ix_calls_phone", table_name="calls")
    op.drop_index("ix_calls_campaign_status", table_name="calls")
    op.drop_table("calls")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("voice")
