"""timeline indexes, bio source text, rel=me link checks as jobs

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 16:00:00

Indexes for the timeline plans of ``fediserver.domain.timelines`` (checked with EXPLAIN on SQLite and
PostgreSQL, ``tests/fediserver/test_timeline_plans.py``): an account's posts by time, boosts by booster
and time, a user's mention notifications. ``local_actors.summary_source`` keeps the bio as typed
(Mastodon's ``source.note``). ``link_checks`` queues rel=me verification for the worker.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notes_author_published", "notes", ["attributed_to", "published_at"])
    op.create_index("ix_announces_actor_created", "announces", ["actor_uri", "created_at"])
    op.create_index("ix_notifications_recipient_type", "notifications", ["local_actor_id", "type", "note_uri"])
    with op.batch_alter_table("local_actors") as batch:
        batch.add_column(sa.Column("summary_source", sa.Text(), nullable=True))
    op.create_table(
        "link_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_link_checks_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_checks")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')", name=op.f("ck_link_checks_state")
        ),
    )
    op.create_index(op.f("ix_link_checks_local_actor_id"), "link_checks", ["local_actor_id"])
    op.create_index(op.f("ix_link_checks_state"), "link_checks", ["state"])
    op.create_index(op.f("ix_link_checks_next_attempt_at"), "link_checks", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("link_checks")
    with op.batch_alter_table("local_actors") as batch:
        batch.drop_column("summary_source")
    op.drop_index("ix_notifications_recipient_type", table_name="notifications")
    op.drop_index("ix_announces_actor_created", table_name="announces")
    op.drop_index("ix_notes_author_published", table_name="notes")
