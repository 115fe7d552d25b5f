"""posts: hashtags, edit history, notifications, resolved handles, a note's tags and custom emoji

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "note_tags",
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["note_id"], ["notes.id"], name=op.f("fk_note_tags_note_id_notes"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_note_tags_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("note_id", "tag_id", name=op.f("pk_note_tags")),
    )
    op.create_index(op.f("ix_note_tags_tag_id"), "note_tags", ["tag_id"], unique=False)
    op.create_table(
        "note_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["note_id"], ["notes.id"], name=op.f("fk_note_edits_note_id_notes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_edits")),
    )
    op.create_index(op.f("ix_note_edits_note_id"), "note_edits", ["note_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("from_actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("note_uri", sa.String(length=2048), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('mention', 'status', 'reblog', 'follow', 'follow_request', 'favourite', 'update')",
            name=op.f("ck_notifications_type"),
        ),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_notifications_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_recipient", "notifications", ["local_actor_id", "id"], unique=False)
    op.create_table(
        "account_handles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("acct", sa.String(length=512), nullable=False),
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_handles")),
        sa.UniqueConstraint("acct", name=op.f("uq_account_handles_acct")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("emojis", sa.JSON(), nullable=True))
    # Notes stored before this revision have no tags or emoji recorded; NOT NULL needs a value.
    op.execute(sa.text("UPDATE notes SET tags = '[]', emojis = '[]'"))
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.alter_column("tags", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("emojis", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_column("emojis")
        batch_op.drop_column("tags")
    op.drop_table("account_handles")
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_note_edits_note_id"), table_name="note_edits")
    op.drop_table("note_edits")
    op.drop_index(op.f("ix_note_tags_tag_id"), table_name="note_tags")
    op.drop_table("note_tags")
    op.drop_table("tags")
