"""assist: the writing-help queue (alt text, rewrites, prompts, hashtags)

Revision ID: 0013
Revises: 0007
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assist_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("input_text", sa.Text(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("notice", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('alt_text', 'rewrite', 'prompt', 'hashtags')", name=op.f("ck_assist_jobs_kind")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')", name=op.f("ck_assist_jobs_state")
        ),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_assist_jobs_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_jobs")),
        sa.UniqueConstraint("token", name=op.f("uq_assist_jobs_token")),
    )
    op.create_index(op.f("ix_assist_jobs_created_at"), "assist_jobs", ["created_at"], unique=False)
    op.create_index(op.f("ix_assist_jobs_local_actor_id"), "assist_jobs", ["local_actor_id"], unique=False)
    op.create_index(op.f("ix_assist_jobs_next_attempt_at"), "assist_jobs", ["next_attempt_at"], unique=False)
    op.create_index(op.f("ix_assist_jobs_state"), "assist_jobs", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_assist_jobs_state"), table_name="assist_jobs")
    op.drop_index(op.f("ix_assist_jobs_next_attempt_at"), table_name="assist_jobs")
    op.drop_index(op.f("ix_assist_jobs_local_actor_id"), table_name="assist_jobs")
    op.drop_index(op.f("ix_assist_jobs_created_at"), table_name="assist_jobs")
    op.drop_table("assist_jobs")
