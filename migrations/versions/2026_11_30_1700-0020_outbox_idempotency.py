"""C2S: outbox idempotency keys (a retried outbox POST makes one activity); FEP-d8c2 client document URLs

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("location", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["oauth_tokens.id"],
            name=op.f("fk_outbox_idempotency_keys_token_id_oauth_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_idempotency_keys")),
        sa.UniqueConstraint("token_id", "key", name="uq_outbox_idempotency_keys_token_key"),
    )
    op.create_index(op.f("ix_outbox_idempotency_keys_created_at"), "outbox_idempotency_keys", ["created_at"])
    op.add_column("oauth_applications", sa.Column("client_url", sa.String(length=2048), nullable=True))
    op.create_index(op.f("ix_oauth_applications_client_url"), "oauth_applications", ["client_url"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_applications_client_url"), table_name="oauth_applications")
    with op.batch_alter_table("oauth_applications") as batch:
        batch.drop_column("client_url")
    op.drop_index(op.f("ix_outbox_idempotency_keys_created_at"), table_name="outbox_idempotency_keys")
    op.drop_table("outbox_idempotency_keys")
