"""Notes: fewer index entries and one counter update per INSERT statement, for the inbox's batched posts

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-02 01:30:00

Each remote post cost PostgreSQL seven index entries and a row trigger (a PL/pgSQL call and an upsert of
its author's ``account_stats``), about 160 µs of the drain's per-post cost (docs/benchmarks.md):

- ``ix_notes_attributed_to`` goes: ``ix_notes_author_published`` (attributed_to, published_at) begins with
  the same column and serves every look-up by author.
- ``ix_notes_local_actor_id`` and ``ix_notes_in_reply_to_uri`` keep only the rows that have a value
  (a remote post has no local author, most posts reply to nothing). Every query through them compares
  the column to a value, which implies ``IS NOT NULL``, so both databases still use them.
- On PostgreSQL, inserted notes are counted once per statement (a trigger on the statement's transition
  table, ``new_notes``, one upsert per author in author order), not once per row: the inbox inserts a
  batch's posts in one statement. Deletes and updates keep the row trigger of migration 0023. SQLite has
  no statement triggers and keeps its row triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = ("local_actor_id", "in_reply_to_uri")
ROW_TRIGGER = "account_stats_notes"
ROW_COLUMNS = "deleted_at, attributed_to, published_at"
STATEMENT_TRIGGER = "account_stats_notes_inserted"
# Authors in order, so that two transactions inserting for the same authors lock their rows in one order.
COUNT_INSERTED = """
INSERT INTO account_stats (actor_uri, statuses_count, followers_count, following_count, last_status_at)
SELECT attributed_to, count(*), 0, 0, max(published_at) FROM new_notes WHERE deleted_at IS NULL
GROUP BY attributed_to ORDER BY attributed_to
ON CONFLICT (actor_uri) DO UPDATE SET statuses_count = account_stats.statuses_count + excluded.statuses_count,
    last_status_at = CASE WHEN account_stats.last_status_at IS NULL
        OR excluded.last_status_at > account_stats.last_status_at
        THEN excluded.last_status_at ELSE account_stats.last_status_at END;
"""


def upgrade() -> None:
    op.drop_index("ix_notes_attributed_to", table_name="notes")
    for column in PARTIAL:
        op.drop_index(f"ix_notes_{column}", table_name="notes")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(f"ix_notes_{column}", "notes", [column], sqlite_where=where, postgresql_where=where)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER {ROW_TRIGGER} ON notes")
    op.execute(
        f"CREATE TRIGGER {ROW_TRIGGER} AFTER DELETE OR UPDATE OF {ROW_COLUMNS} ON notes "
        f"FOR EACH ROW EXECUTE FUNCTION {ROW_TRIGGER}()"
    )
    op.execute(
        f"CREATE FUNCTION {STATEMENT_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {COUNT_INSERTED} RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {STATEMENT_TRIGGER} AFTER INSERT ON notes REFERENCING NEW TABLE AS new_notes "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {STATEMENT_TRIGGER}()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {STATEMENT_TRIGGER} ON notes")
        op.execute(f"DROP FUNCTION {STATEMENT_TRIGGER}()")
        op.execute(f"DROP TRIGGER {ROW_TRIGGER} ON notes")
        op.execute(
            f"CREATE TRIGGER {ROW_TRIGGER} AFTER INSERT OR DELETE OR UPDATE OF {ROW_COLUMNS} ON notes "
            f"FOR EACH ROW EXECUTE FUNCTION {ROW_TRIGGER}()"
        )
    for column in PARTIAL:
        op.drop_index(f"ix_notes_{column}", table_name="notes")
        op.create_index(f"ix_notes_{column}", "notes", [column])
    op.create_index("ix_notes_attributed_to", "notes", ["attributed_to"])
