"""stream_events.subject_at: when the subject of an event was made, for an undone boost whose row is gone

Revision ID: 0027
Revises: 0024
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stream_events") as batch:
        batch.add_column(sa.Column("subject_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stream_events") as batch:
        batch.drop_column("subject_at")
