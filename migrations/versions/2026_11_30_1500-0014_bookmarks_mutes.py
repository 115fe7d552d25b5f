"""bookmarks and mutes: a user's private lists

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_bookmarks_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["note_id"], ["notes.id"], name=op.f("fk_bookmarks_note_id_notes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
        sa.UniqueConstraint("local_actor_id", "note_id", name="uq_bookmarks_pair"),
    )
    op.create_index(op.f("ix_bookmarks_local_actor_id"), "bookmarks", ["local_actor_id"])
    op.create_index(op.f("ix_bookmarks_note_id"), "bookmarks", ["note_id"])
    op.create_table(
        "mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("target_uri", sa.String(length=2048), nullable=False),
        sa.Column("notifications", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_mutes_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mutes")),
        sa.UniqueConstraint("local_actor_id", "target_uri", name="uq_mutes_pair"),
    )
    op.create_index(op.f("ix_mutes_local_actor_id"), "mutes", ["local_actor_id"])
    op.create_index(op.f("ix_mutes_target_uri"), "mutes", ["target_uri"])


def downgrade() -> None:
    op.drop_table("mutes")
    op.drop_table("bookmarks")
