"""profiles: avatar, header, fields, discoverable/indexable, aliases, moves and deletion of local actors;
pinned posts; the purpose of a generation; media focal points

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only ADD COLUMN and CREATE TABLE: on SQLite, where foreign keys are enforced inside the migration's
    # transaction, a batch table rebuild would cascade-delete (or null) the rows that refer to it. So
    # ``generation_jobs.purpose`` has no CHECK constraint; ``imagegen.jobs.enqueue`` validates it.
    # Server defaults fill the rows that exist already (plain strings: an SQL expression would make
    # Alembic rebuild the table on SQLite; '1' reads as true on both databases).
    with op.batch_alter_table("local_actors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avatar_key", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("avatar_media_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("header_key", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("header_media_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("fields", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("discoverable", sa.Boolean(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("indexable", sa.Boolean(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("also_known_as", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("moved_to", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=16), nullable=False, server_default="post"))
    with op.batch_alter_table("media_attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("focus_x", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("focus_y", sa.Float(), nullable=True))
    op.create_table(
        "pins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_pins_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["note_id"], ["notes.id"], name=op.f("fk_pins_note_id_notes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pins")),
        sa.UniqueConstraint("local_actor_id", "note_id", name="uq_pins_pair"),
    )
    with op.batch_alter_table("pins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pins_local_actor_id"), ["local_actor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pins_local_actor_id"))
    op.drop_table("pins")
    with op.batch_alter_table("media_attachments", schema=None) as batch_op:
        batch_op.drop_column("focus_y")
        batch_op.drop_column("focus_x")
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.drop_column("purpose")
    with op.batch_alter_table("local_actors", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("moved_to")
        batch_op.drop_column("also_known_as")
        batch_op.drop_column("indexable")
        batch_op.drop_column("discoverable")
        batch_op.drop_column("fields")
        batch_op.drop_column("header_media_type")
        batch_op.drop_column("header_key")
        batch_op.drop_column("avatar_media_type")
        batch_op.drop_column("avatar_key")
