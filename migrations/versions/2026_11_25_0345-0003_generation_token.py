"""generation: job tokens (unguessable status URLs), original and thumbnail files of media

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:35:44.092749
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=32), nullable=True))
    # Jobs queued before this revision get a token too, so the column can be NOT NULL.
    bind = op.get_bind()
    for (job_id,) in bind.execute(sa.text("SELECT id FROM generation_jobs")).fetchall():
        bind.execute(
            sa.text("UPDATE generation_jobs SET token = :token WHERE id = :id"),
            {"token": secrets.token_hex(16), "id": job_id},
        )
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.alter_column("token", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_generation_jobs_token"), ["token"])
    with op.batch_alter_table("media_attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_key", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("thumbnail_key", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_attachments", schema=None) as batch_op:
        batch_op.drop_column("thumbnail_key")
        batch_op.drop_column("original_key")
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_generation_jobs_token"), type_="unique")
        batch_op.drop_column("token")
