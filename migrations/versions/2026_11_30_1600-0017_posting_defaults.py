"""posting defaults: a user's default visibility, sensitivity and language (Mastodon's ``source``)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("default_visibility", sa.String(length=16), nullable=False, server_default="public")
        )
        batch_op.add_column(sa.Column("default_sensitive", sa.Boolean(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("default_language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("default_language")
        batch_op.drop_column("default_sensitive")
        batch_op.drop_column("default_visibility")
