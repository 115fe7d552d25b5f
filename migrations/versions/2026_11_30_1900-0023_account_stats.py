"""account stats: per-account status, follower and following counts kept by triggers, backfilled;
an index of all boosts by time (the home timeline on PostgreSQL)

Revision ID: 0023
Revises: 0027
Create Date: 2026-11-30 19:00:00

The counters follow the rows they count in the same statement (an AFTER ... FOR EACH ROW trigger on
``notes`` and on ``follows``), whichever code path inserts, soft-deletes or removes a note or changes a
follow. A SQLite batch migration that rebuilds ``notes`` or ``follows`` drops their triggers: such a
migration must call ``create_triggers`` again; ``tests/fediserver/test_account_stats.py`` fails at head
if they are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO account_stats (actor_uri, statuses_count, followers_count, following_count, last_status_at)
SELECT uri, SUM(s), SUM(fr), SUM(fg), MAX(l) FROM (
    SELECT attributed_to AS uri, COUNT(*) AS s, 0 AS fr, 0 AS fg, MAX(published_at) AS l
    FROM notes WHERE deleted_at IS NULL GROUP BY attributed_to
    UNION ALL
    SELECT followed_uri, 0, COUNT(*), 0, NULL FROM follows WHERE state = 'accepted' GROUP BY followed_uri
    UNION ALL
    SELECT follower_uri, 0, 0, COUNT(*), NULL FROM follows WHERE state = 'accepted' GROUP BY follower_uri
) AS counted GROUP BY uri
"""

# Statements shared by SQLite's trigger bodies and PostgreSQL's trigger functions, by the row they read.
# ``INSERT ... SELECT ... WHERE`` makes the row only when the guard holds (the WHERE also settles SQLite's
# parse of ``ON CONFLICT`` after a SELECT).
NOTE_GONE = """
UPDATE account_stats SET statuses_count = statuses_count - 1,
    last_status_at = (SELECT published_at FROM notes WHERE attributed_to = OLD.attributed_to
                      AND deleted_at IS NULL ORDER BY published_at DESC LIMIT 1)
WHERE actor_uri = OLD.attributed_to AND OLD.deleted_at IS NULL;
"""
NOTE_LIVE = """
INSERT INTO account_stats (actor_uri, statuses_count, followers_count, following_count, last_status_at)
SELECT NEW.attributed_to, 1, 0, 0, NEW.published_at WHERE NEW.deleted_at IS NULL
ON CONFLICT (actor_uri) DO UPDATE SET statuses_count = account_stats.statuses_count + 1,
    last_status_at = CASE WHEN account_stats.last_status_at IS NULL
        OR excluded.last_status_at > account_stats.last_status_at
        THEN excluded.last_status_at ELSE account_stats.last_status_at END;
"""
FOLLOW_GONE = """
UPDATE account_stats SET followers_count = followers_count - 1
WHERE actor_uri = OLD.followed_uri AND OLD.state = 'accepted';
UPDATE account_stats SET following_count = following_count - 1
WHERE actor_uri = OLD.follower_uri AND OLD.state = 'accepted';
"""
FOLLOW_LIVE = """
INSERT INTO account_stats (actor_uri, statuses_count, followers_count, following_count)
SELECT NEW.followed_uri, 0, 1, 0 WHERE NEW.state = 'accepted'
ON CONFLICT (actor_uri) DO UPDATE SET followers_count = account_stats.followers_count + 1;
INSERT INTO account_stats (actor_uri, statuses_count, followers_count, following_count)
SELECT NEW.follower_uri, 0, 0, 1 WHERE NEW.state = 'accepted'
ON CONFLICT (actor_uri) DO UPDATE SET following_count = account_stats.following_count + 1;
"""
# Per table: the columns whose update can change a count, the statements for a row gone, for a row come.
TABLES = {
    "notes": ("deleted_at, attributed_to, published_at", NOTE_GONE, NOTE_LIVE),
    "follows": ("state, follower_uri, followed_uri", FOLLOW_GONE, FOLLOW_LIVE),
}


def _sqlite_triggers(table: str) -> list[str]:
    columns, gone, live = TABLES[table]
    name = f"account_stats_{table}"
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {live} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {gone} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {columns} ON {table} BEGIN {gone} {live} END",
    ]


def _postgresql_triggers(table: str) -> list[str]:
    columns, gone, live = TABLES[table]
    name = f"account_stats_{table}"
    return [
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN {gone} END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN {live} END IF;
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {name} AFTER INSERT OR DELETE OR UPDATE OF {columns} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]


def create_triggers(table: str) -> None:
    """(Re)create the counting triggers of ``notes`` or ``follows``."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _postgresql_triggers(table) if postgresql else _sqlite_triggers(table):
        op.execute(statement)


def drop_triggers(table: str) -> None:
    name = f"account_stats_{table}"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        return
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")


def upgrade() -> None:
    op.create_table(
        "account_stats",
        sa.Column("actor_uri", sa.String(length=2048), nullable=False),
        sa.Column("statuses_count", sa.Integer(), nullable=False),
        sa.Column("followers_count", sa.Integer(), nullable=False),
        sa.Column("following_count", sa.Integer(), nullable=False),
        sa.Column("last_status_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("actor_uri", name=op.f("pk_account_stats")),
    )
    op.execute(BACKFILL)
    op.create_index("ix_announces_created", "announces", ["created_at", "id"])
    for table in TABLES:
        create_triggers(table)


def downgrade() -> None:
    for table in TABLES:
        drop_triggers(table)
    op.drop_index("ix_announces_created", table_name="announces")
    op.drop_table("account_stats")
