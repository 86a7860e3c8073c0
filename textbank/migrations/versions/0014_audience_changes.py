"""audience changes: when a member last changed in a way that can put them in an audience

Revision ID: 0014_audience_changes
Revises: 0013_member_counts
Create Date: 2026-12-02 14:35:00
"""

import sqlalchemy as sa
from alembic import op

from textbank.models.base import UTCDateTime

revision = "0014_audience_changes"
down_revision = "0013_member_counts"
branch_labels = None
depends_on = None

# "Text new members" offers everyone now in a launched campaign's audience with no row in it:
# imported since, or re-tagged, moved to another local, given another status or language,
# made a leader, or opted back in. Those are the members whose audience_changed_at is past the
# launch; its index finds them without reading every member. Triggers keep it, so every way a
# member changes (imports, edits, merges, the API, opt-ins) counts, now and later.
AUDIENCE_COLUMNS = "local_id, status, language, is_leader, opted_out_at"
PG_FUNCTIONS = {
    # A new member keeps a time given with it (a copy of another database's members).
    "members_audience_changed": """
        BEGIN
          IF TG_OP = 'INSERT' AND NEW.audience_changed_at IS NOT NULL THEN RETURN NEW; END IF;
          NEW.audience_changed_at := now(); RETURN NEW;
        END""",
    # Once per statement; a member changed already in this transaction is left alone.
    "member_tags_audience_changed": """
        BEGIN UPDATE members SET audience_changed_at = now()
          WHERE id IN (SELECT member_id FROM added) AND audience_changed_at < now();
        RETURN NULL; END""",
}
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
SQLITE_TRIGGERS = {
    # SQLite cannot add a column defaulting to the time: a new member gets it here.
    "members_audience_added": (
        "AFTER INSERT ON members WHEN NEW.audience_changed_at IS NULL BEGIN "
        f"UPDATE members SET audience_changed_at = {SQLITE_NOW} WHERE id = NEW.id; END"
    ),
    "members_audience_changed": (
        f"AFTER UPDATE OF {AUDIENCE_COLUMNS} ON members BEGIN "
        f"UPDATE members SET audience_changed_at = {SQLITE_NOW} WHERE id = NEW.id; END"
    ),
    "member_tags_audience_changed": (
        "AFTER INSERT ON member_tags BEGIN "
        f"UPDATE members SET audience_changed_at = {SQLITE_NOW} WHERE id = NEW.member_id; END"
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("audience_changed_at", UTCDateTime(timezone=True)))
    # Members last changed before any launch (NULL) are in no launched campaign's "new
    # members": only those changed since the first launch get a time, not every member.
    op.execute(
        "UPDATE members SET audience_changed_at = updated_at WHERE updated_at >= "
        "(SELECT min(launched_at) FROM campaigns) - interval '10 minutes'"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE members SET audience_changed_at = updated_at WHERE updated_at >= "
        "datetime((SELECT min(launched_at) FROM campaigns), '-10 minutes')"
    )
    op.create_index("ix_members_audience_changed_at", "members", ["audience_changed_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE members")  # rows rewritten: plan with what it holds now
    with op.batch_alter_table("campaigns") as batch:
        # Set by "Text new members": the snapshot walks again, over members changed since.
        batch.add_column(sa.Column("topup_since", UTCDateTime(timezone=True)))
    if op.get_bind().dialect.name == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$"
            )
        op.execute(
            f"CREATE TRIGGER members_audience_changed BEFORE INSERT OR UPDATE OF "
            f"{AUDIENCE_COLUMNS} ON members FOR EACH ROW "
            "EXECUTE FUNCTION members_audience_changed()"
        )
        op.execute(
            "CREATE TRIGGER member_tags_audience_changed AFTER INSERT ON member_tags "
            "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
            "EXECUTE FUNCTION member_tags_audience_changed()"
        )
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP TRIGGER member_tags_audience_changed" + (" ON member_tags" if postgres else ""))
    op.execute("DROP TRIGGER members_audience_changed" + (" ON members" if postgres else ""))
    if not postgres:
        op.execute("DROP TRIGGER members_audience_added")
    if postgres:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("topup_since")
    op.drop_index("ix_members_audience_changed_at", table_name="members")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("audience_changed_at")
