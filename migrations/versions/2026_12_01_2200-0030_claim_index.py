"""Queue tables: one index of jobs by state, then due time and id, in place of the state index and the
partial index of claimable jobs; each of a claim's two conditions (queued and due, running with a lapsed
lease) is one ordered range of it, and no planner without statistics reads the state index and sorts the
whole backlog

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUES = ("inbound_activities", "delivery_jobs", "link_checks", "generation_jobs", "assist_jobs")
CLAIMABLE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    for table in QUEUES:
        op.drop_index(f"ix_{table}_claimable", table_name=table)
        op.drop_index(f"ix_{table}_state", table_name=table)
        op.create_index(f"ix_{table}_state_due", table, ["state", "next_attempt_at", "id"])


def downgrade() -> None:
    for table in QUEUES:
        op.drop_index(f"ix_{table}_state_due", table_name=table)
        op.create_index(f"ix_{table}_state", table, ["state"])
        op.create_index(
            f"ix_{table}_claimable",
            table,
            ["next_attempt_at", "id"],
            sqlite_where=CLAIMABLE,
            postgresql_where=CLAIMABLE,
        )
