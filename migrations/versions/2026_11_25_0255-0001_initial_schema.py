"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 02:55:25.954734
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_uri", sa.String(length=2048), nullable=False),
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("note_uri", sa.String(length=2048), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announces")),
        sa.UniqueConstraint("activity_uri", name=op.f("uq_announces_activity_uri")),
        sa.UniqueConstraint("actor_uri", "note_uri", name="uq_announces_pair"),
    )
    op.create_index(op.f("ix_announces_actor_uri"), "announces", ["actor_uri"], unique=False)
    op.create_index(op.f("ix_announces_note_uri"), "announces", ["note_uri"], unique=False)

    op.create_table(
        "follows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_uri", sa.String(length=2048), nullable=False),
        sa.Column("follower_uri", sa.String(length=2048), nullable=False),
        sa.Column("followed_uri", sa.String(length=2048), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'accepted', 'rejected')", name=op.f("ck_follows_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
        sa.UniqueConstraint("activity_uri", name=op.f("uq_follows_activity_uri")),
        sa.UniqueConstraint("follower_uri", "followed_uri", name="uq_follows_pair"),
    )
    op.create_index(op.f("ix_follows_followed_uri"), "follows", ["followed_uri"], unique=False)
    op.create_index(op.f("ix_follows_follower_uri"), "follows", ["follower_uri"], unique=False)

    op.create_table(
        "likes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_uri", sa.String(length=2048), nullable=False),
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("note_uri", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_likes")),
        sa.UniqueConstraint("activity_uri", name=op.f("uq_likes_activity_uri")),
        sa.UniqueConstraint("actor_uri", "note_uri", name="uq_likes_pair"),
    )
    op.create_index(op.f("ix_likes_actor_uri"), "likes", ["actor_uri"], unique=False)
    op.create_index(op.f("ix_likes_note_uri"), "likes", ["note_uri"], unique=False)

    op.create_table(
        "local_actors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("manually_approves_followers", sa.Boolean(), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "actor_type IN ('Person', 'Service', 'Application')", name=op.f("ck_local_actors_actor_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_local_actors")),
        sa.UniqueConstraint("username", name=op.f("uq_local_actors_username")),
    )
    op.create_table(
        "remote_actors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("actor_type", sa.String(length=32), nullable=False),
        sa.Column("preferred_username", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=500), nullable=False),
        sa.Column("summary_html", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("icon_url", sa.String(length=2048), nullable=True),
        sa.Column("inbox", sa.String(length=2048), nullable=False),
        sa.Column("shared_inbox", sa.String(length=2048), nullable=True),
        sa.Column("outbox", sa.String(length=2048), nullable=True),
        sa.Column("followers_url", sa.String(length=2048), nullable=True),
        sa.Column("following_url", sa.String(length=2048), nullable=True),
        sa.Column("key_id", sa.String(length=2048), nullable=True),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("manually_approves_followers", sa.Boolean(), nullable=False),
        sa.Column("moved_to", sa.String(length=2048), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_actors")),
        sa.UniqueConstraint("uri", name=op.f("uq_remote_actors_uri")),
    )
    op.create_index(op.f("ix_remote_actors_domain"), "remote_actors", ["domain"], unique=False)
    op.create_index(op.f("ix_remote_actors_key_id"), "remote_actors", ["key_id"], unique=False)

    op.create_table(
        "delivery_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.String(length=2048), nullable=False),
        sa.Column("inbox_url", sa.String(length=2048), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("signer_actor_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_delivery_jobs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["signer_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_delivery_jobs_signer_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_jobs")),
    )
    op.create_index(op.f("ix_delivery_jobs_activity_id"), "delivery_jobs", ["activity_id"], unique=False)
    op.create_index(op.f("ix_delivery_jobs_host"), "delivery_jobs", ["host"], unique=False)
    op.create_index(op.f("ix_delivery_jobs_next_attempt_at"), "delivery_jobs", ["next_attempt_at"], unique=False)
    op.create_index(op.f("ix_delivery_jobs_state"), "delivery_jobs", ["state"], unique=False)

    op.create_table(
        "generation_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("scheduler", sa.String(length=100), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("guidance", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("post_text", sa.Text(), nullable=True),
        sa.Column("post_visibility", sa.String(length=16), nullable=True),
        sa.Column("progress_step", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_generation_jobs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_generation_jobs_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_jobs")),
    )
    op.create_index(op.f("ix_generation_jobs_local_actor_id"), "generation_jobs", ["local_actor_id"], unique=False)
    op.create_index(op.f("ix_generation_jobs_next_attempt_at"), "generation_jobs", ["next_attempt_at"], unique=False)
    op.create_index(op.f("ix_generation_jobs_state"), "generation_jobs", ["state"], unique=False)

    op.create_table(
        "inbound_activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.String(length=2048), nullable=False),
        sa.Column("activity_type", sa.String(length=64), nullable=False),
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("key_id", sa.String(length=2048), nullable=False),
        sa.Column("recipient_actor_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_inbound_activities_state"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_inbound_activities_recipient_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_activities")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_inbound_activities_activity_id")),
    )
    op.create_index(op.f("ix_inbound_activities_actor_uri"), "inbound_activities", ["actor_uri"], unique=False)
    op.create_index(
        op.f("ix_inbound_activities_next_attempt_at"), "inbound_activities", ["next_attempt_at"], unique=False
    )
    op.create_index(op.f("ix_inbound_activities_state"), "inbound_activities", ["state"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_approved", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["local_actors.id"], name=op.f("fk_users_actor_id_local_actors"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("actor_id", name=op.f("uq_users_actor_id")),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("local_actor_id", sa.Integer(), nullable=True),
        sa.Column("attributed_to", sa.String(length=2048), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("to", sa.JSON(), nullable=False),
        sa.Column("cc", sa.JSON(), nullable=False),
        sa.Column("in_reply_to_uri", sa.String(length=2048), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generation_job_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "visibility IN ('public', 'unlisted', 'followers', 'direct')", name=op.f("ck_notes_visibility")
        ),
        sa.ForeignKeyConstraint(
            ["generation_job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_notes_generation_job_id_generation_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_notes_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
        sa.UniqueConstraint("uri", name=op.f("uq_notes_uri")),
    )
    op.create_index(op.f("ix_notes_attributed_to"), "notes", ["attributed_to"], unique=False)
    op.create_index(op.f("ix_notes_in_reply_to_uri"), "notes", ["in_reply_to_uri"], unique=False)
    op.create_index(op.f("ix_notes_local_actor_id"), "notes", ["local_actor_id"], unique=False)
    op.create_index(op.f("ix_notes_published_at"), "notes", ["published_at"], unique=False)

    op.create_table(
        "media_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=True),
        sa.Column("local_actor_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=True),
        sa.Column("remote_url", sa.String(length=2048), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("blurhash", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("generation_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["generation_job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_media_attachments_generation_job_id_generation_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["local_actor_id"],
            ["local_actors.id"],
            name=op.f("fk_media_attachments_local_actor_id_local_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["note_id"], ["notes.id"], name=op.f("fk_media_attachments_note_id_notes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_attachments")),
    )
    op.create_index(
        op.f("ix_media_attachments_generation_job_id"),
        "media_attachments",
        ["generation_job_id"],
        unique=False,
    )
    op.create_index(op.f("ix_media_attachments_note_id"), "media_attachments", ["note_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_media_attachments_note_id"), table_name="media_attachments")
    op.drop_index(op.f("ix_media_attachments_generation_job_id"), table_name="media_attachments")

    op.drop_table("media_attachments")
    op.drop_index(op.f("ix_notes_published_at"), table_name="notes")
    op.drop_index(op.f("ix_notes_local_actor_id"), table_name="notes")
    op.drop_index(op.f("ix_notes_in_reply_to_uri"), table_name="notes")
    op.drop_index(op.f("ix_notes_attributed_to"), table_name="notes")

    op.drop_table("notes")
    op.drop_table("users")
    op.drop_index(op.f("ix_inbound_activities_state"), table_name="inbound_activities")
    op.drop_index(op.f("ix_inbound_activities_next_attempt_at"), table_name="inbound_activities")
    op.drop_index(op.f("ix_inbound_activities_actor_uri"), table_name="inbound_activities")

    op.drop_table("inbound_activities")
    op.drop_index(op.f("ix_generation_jobs_state"), table_name="generation_jobs")
    op.drop_index(op.f("ix_generation_jobs_next_attempt_at"), table_name="generation_jobs")
    op.drop_index(op.f("ix_generation_jobs_local_actor_id"), table_name="generation_jobs")

    op.drop_table("generation_jobs")
    op.drop_index(op.f("ix_delivery_jobs_state"), table_name="delivery_jobs")
    op.drop_index(op.f("ix_delivery_jobs_next_attempt_at"), table_name="delivery_jobs")
    op.drop_index(op.f("ix_delivery_jobs_host"), table_name="delivery_jobs")
    op.drop_index(op.f("ix_delivery_jobs_activity_id"), table_name="delivery_jobs")

    op.drop_table("delivery_jobs")
    op.drop_index(op.f("ix_remote_actors_key_id"), table_name="remote_actors")
    op.drop_index(op.f("ix_remote_actors_domain"), table_name="remote_actors")

    op.drop_table("remote_actors")
    op.drop_table("local_actors")
    op.drop_index(op.f("ix_likes_note_uri"), table_name="likes")
    op.drop_index(op.f("ix_likes_actor_uri"), table_name="likes")

    op.drop_table("likes")
    op.drop_index(op.f("ix_follows_follower_uri"), table_name="follows")
    op.drop_index(op.f("ix_follows_followed_uri"), table_name="follows")

    op.drop_table("follows")
    op.drop_index(op.f("ix_announces_note_uri"), table_name="announces")
    op.drop_index(op.f("ix_announces_actor_uri"), table_name="announces")

    op.drop_table("announces")
