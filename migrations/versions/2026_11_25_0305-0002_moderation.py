"""moderation: domain blocks, actor blocks, reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 03:05:43.028103
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actor_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_uri", sa.String(length=2048), nullable=False),
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("target_uri", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actor_blocks")),
        sa.UniqueConstraint("activity_uri", name=op.f("uq_actor_blocks_activity_uri")),
        sa.UniqueConstraint("actor_uri", "target_uri", name="uq_actor_blocks_pair"),
    )
    op.create_index(op.f("ix_actor_blocks_actor_uri"), "actor_blocks", ["actor_uri"], unique=False)
    op.create_index(op.f("ix_actor_blocks_target_uri"), "actor_blocks", ["target_uri"], unique=False)

    op.create_table(
        "domain_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_blocks")),
        sa.UniqueConstraint("domain", name=op.f("uq_domain_blocks_domain")),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_uri", sa.String(length=2048), nullable=False),
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("object_uris", sa.JSON(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("activity_uri", name=op.f("uq_reports_activity_uri")),
    )


def downgrade() -> None:
    op.drop_table("reports")
    op.drop_table("domain_blocks")
    op.drop_index(op.f("ix_actor_blocks_target_uri"), table_name="actor_blocks")
    op.drop_index(op.f("ix_actor_blocks_actor_uri"), table_name="actor_blocks")

    op.drop_table("actor_blocks")
