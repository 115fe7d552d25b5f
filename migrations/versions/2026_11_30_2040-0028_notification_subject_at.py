"""notifications.subject_at: when the post a notification is about was published, so the home timeline's
mention part walks a reader's mentions newest first and stops after a page

Revision ID: 0028
Revises: 0023
Create Date: 2026-11-30 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild): nothing else about the table changes.
    op.add_column("notifications", sa.Column("subject_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE notifications SET subject_at = "
        "(SELECT notes.published_at FROM notes WHERE notes.uri = notifications.note_uri) "
        "WHERE note_uri IS NOT NULL"
    )
    op.create_index(
        "ix_notifications_recipient_type_subject", "notifications", ["local_actor_id", "type", "subject_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_recipient_type_subject", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("subject_at")
