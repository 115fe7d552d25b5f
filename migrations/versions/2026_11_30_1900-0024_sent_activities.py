"""C2S: sent activities (Update, Delete, Add, Remove of a post) kept so that their ids dereference

Revision ID: 0024
Revises: 0022
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_sent_activities_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["note_id"], ["notes.id"], name=op.f("fk_sent_activities_note_id_notes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_activities")),
        sa.UniqueConstraint("uri", name=op.f("uq_sent_activities_uri")),
    )
    op.create_index(op.f("ix_sent_activities_note_id"), "sent_activities", ["note_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sent_activities_note_id"), table_name="sent_activities")
    op.drop_table("sent_activities")
