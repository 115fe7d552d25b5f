"""Inbound activities: the sender's index also by state and id, so that a claim's question (is an older job
of this sender running?) reads the sender's running jobs, not its whole history

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_inbound_activities_actor_uri", table_name="inbound_activities")
    op.create_index("ix_inbound_activities_actor_state", "inbound_activities", ["actor_uri", "state", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbound_activities_actor_state", table_name="inbound_activities")
    op.create_index("ix_inbound_activities_actor_uri", "inbound_activities", ["actor_uri"])
