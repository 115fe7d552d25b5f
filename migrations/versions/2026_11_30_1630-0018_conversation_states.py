"""conversation states (a user's read and removed marks on direct-message threads); note_edits.media

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("root_note_id", sa.Integer(), nullable=False),
        sa.Column("read_through", sa.Integer(), nullable=True),
        sa.Column("removed_through", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_conversation_states_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["root_note_id"], ["notes.id"], name=op.f("fk_conversation_states_root_note_id_notes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_states")),
        sa.UniqueConstraint("local_actor_id", "root_note_id", name="uq_conversation_states_pair"),
    )
    op.create_index(op.f("ix_conversation_states_local_actor_id"), "conversation_states", ["local_actor_id"])
    op.create_index(op.f("ix_conversation_states_root_note_id"), "conversation_states", ["root_note_id"])
    op.add_column("note_edits", sa.Column("media", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("note_edits") as batch:
        batch.drop_column("media")
    op.drop_table("conversation_states")
