"""the manager console: audit log, account links, uploads, confirmation texts, member search

Revision ID: 0011_people_console
Revises: 0007_pipeline
Create Date: 2026-12-02 09:45:00
"""

import sqlalchemy as sa
from alembic import op

from textbank.models.base import UTCDateTime

revision = "0011_people_console"
down_revision = "0007_pipeline"
branch_labels = None
depends_on = None

# PostgreSQL: prefix searches by name and by the last digits of a phone read these in
# order (COLLATE "C" makes LIKE 'x%' and ORDER BY one index range), so a search of a million
# members touches only the rows it shows.
SEARCH_INDEXES = {
    "ix_members_search_last": 'lower(last_name) COLLATE "C", lower(first_name) COLLATE "C", id',
    "ix_members_search_first": 'lower(first_name) COLLATE "C", lower(last_name) COLLATE "C", id',
    "ix_members_search_phone_tail": 'reverse(phone) COLLATE "C", id',
}


def _users_fk(name: str, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("users.id", ondelete=ondelete))


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        _users_fk("actor_id"),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_created_at", "audit_events", ["created_at"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_table(
        "account_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16)),
        _users_fk("user_id", "CASCADE"),
        _users_fk("created_by_id"),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True)),
    )
    op.create_index("ix_account_links_email", "account_links", ["email"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("data", sa.LargeBinary()),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON()),
        sa.Column("error", sa.Text()),
        _users_fk("created_by_id"),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True)),
    )
    op.create_index("ix_uploads_kind_created", "uploads", ["kind", "created_at"])
    op.create_table(
        "confirmation_texts",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String(20)))
        batch.add_column(sa.Column("sessions_valid_after", UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("last_login_at", UTCDateTime(timezone=True)))
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("external_id", sa.String(64)))
        batch.add_column(sa.Column("zip_code", sa.String(10)))
    with op.batch_alter_table("opt_out_events") as batch:
        batch.add_column(sa.Column("reason", sa.Text()))
        batch.add_column(
            sa.Column(
                "actor_id",
                sa.Integer(),
                sa.ForeignKey(
                    "users.id", ondelete="SET NULL", name="fk_opt_out_events_actor_id_users"
                ),
            )
        )
    if op.get_bind().dialect.name == "postgresql":
        for name, columns in SEARCH_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON members ({columns})")
    # "#1199" was a local of its own; it is Local 1199 (merged by the console if both exist).
    op.execute(
        "UPDATE locals SET number = substr(number, 2) WHERE number LIKE '#%' AND NOT EXISTS "
        "(SELECT 1 FROM locals l2 WHERE l2.number = substr(locals.number, 2))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in SEARCH_INDEXES:
            op.execute(f"DROP INDEX {name}")
    with op.batch_alter_table("opt_out_events") as batch:
        batch.drop_constraint("fk_opt_out_events_actor_id_users", type_="foreignkey")
        batch.drop_column("actor_id")
        batch.drop_column("reason")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("zip_code")
        batch.drop_column("external_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("sessions_valid_after")
        batch.drop_column("phone")
    op.drop_table("confirmation_texts")
    op.drop_table("uploads")
    op.drop_table("account_links")
    op.drop_table("audit_events")
