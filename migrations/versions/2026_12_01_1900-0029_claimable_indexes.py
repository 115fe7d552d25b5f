"""Queue tables: an index of the jobs a claim can take (queued and running) in claim order, instead of one of
every row's next_attempt_at, which claims walked through the whole history of done jobs

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUES = ("inbound_activities", "delivery_jobs", "link_checks", "generation_jobs", "assist_jobs")
CLAIMABLE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    for table in QUEUES:
        op.drop_index(f"ix_{table}_next_attempt_at", table_name=table)
        op.create_index(
            f"ix_{table}_claimable",
            table,
            ["next_attempt_at", "id"],
            sqlite_where=CLAIMABLE,
            postgresql_where=CLAIMABLE,
        )


def downgrade() -> None:
    for table in QUEUES:
        op.drop_index(f"ix_{table}_claimable", table_name=table)
        op.create_index(f"ix_{table}_next_attempt_at", table, ["next_attempt_at"])
