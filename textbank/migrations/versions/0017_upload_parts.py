"""upload parts: an uploaded file is kept in 256 KiB parts, not one row holding it whole

Revision ID: 0017_upload_parts
Revises: 0016_reply_answers
Create Date: 2026-12-02 17:50:00

A 200 MB member list held in uploads.data was read whole into the web process to store it
and into the worker to import it (issue 13 §3). Its parts are written and read back one at
a time; the encoding decided while they were written is kept beside them, so the mapping
page and the job decode the file as its upload did. Files waiting for their import move to
one part each.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_upload_parts"
down_revision = "0016_reply_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_parts",
        sa.Column(
            "upload_id", sa.Integer(), sa.ForeignKey("uploads.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )  # fmt: skip
    op.add_column("uploads", sa.Column("encoding", sa.String(16)))
    op.execute(
        "INSERT INTO upload_parts (upload_id, seq, data) "
        "SELECT id, 0, data FROM uploads WHERE data IS NOT NULL"
    )
    op.drop_column("uploads", "data")  # SQLite 3.35+ drops it in place


def downgrade() -> None:
    op.add_column("uploads", sa.Column("data", sa.LargeBinary()))
    op.drop_column("uploads", "encoding")
    op.drop_table("upload_parts")
