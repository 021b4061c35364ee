"""search: a trigram index over subjects, messages and contacts

What an agent searches (inbox.store.search, docs/search.md): a conversation's subject,
its customer messages, replies and notes, its contact's name and addresses. Trigrams,
because Thai writes no spaces between words and a word index would find nothing inside
a run of them.

SQLite: an FTS5 table with tokenize='trigram' and triggers that keep it in step with
every write (they call `inbox_fold`, which inbox.store.db registers on each connection);
the rows already stored are copied in, in chunks of ids. PostgreSQL: the pg_trgm
extension (trusted since PostgreSQL 13: the database's owner may create it), an SQL
`inbox_fold` and GIN indexes on it; building an index reads the table once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As inbox.store.search has them when this revision was written (a released revision
# never changes, whatever that module becomes).
FOLD_FUNCTION, FTS_TABLE = "inbox_fold", "search_index"
# What is indexed: (table, source: the rowid is id * 4 + source, its text (`{r}`: a
# row's name and a dot, or nothing), which rows, the columns whose change re-indexes a row)
_SOURCES = (
    ("message", 0, "{r}text", "{r}kind IN ('customer', 'agent', 'note')", "text, kind"),
    ("conversation", 1, "{r}subject", "1", "subject"),
    ("contact", 2, "{r}name", "1", "name"),
    ("identity", 3, "{r}address || ' ' || {r}name", "1", "address, name"),
)
_CHUNK = 20_000  # ids per backfill statement


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _postgres_upgrade()


def _sqlite_upgrade() -> None:
    op.execute(f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(body, tokenize='trigram')")
    for table, source, text, which, columns in _SOURCES:
        _sqlite_triggers(table, source, text, which, columns)
        _backfill(table, source, text, which)


def _sqlite_triggers(table: str, source: int, text: str, which: str, columns: str) -> None:
    row = f"new.id * 4 + {source}", f"old.id * 4 + {source}"
    value = f"{FOLD_FUNCTION}({text.format(r='new.')})"
    indexed = which.format(r='new.')
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns.split(", "))
    op.execute(f"""CREATE TRIGGER {FTS_TABLE}_{table}_insert AFTER INSERT ON {table}
        WHEN {indexed} BEGIN
          INSERT INTO {FTS_TABLE}(rowid, body) VALUES ({row[0]}, {value});
        END""")
    op.execute(f"""CREATE TRIGGER {FTS_TABLE}_{table}_update AFTER UPDATE OF {columns}
        ON {table} WHEN {changed} BEGIN
          DELETE FROM {FTS_TABLE} WHERE rowid = {row[1]};
          INSERT INTO {FTS_TABLE}(rowid, body) SELECT {row[0]}, {value} WHERE {indexed};
        END""")
    op.execute(f"""CREATE TRIGGER {FTS_TABLE}_{table}_delete AFTER DELETE ON {table}
        BEGIN DELETE FROM {FTS_TABLE} WHERE rowid = {row[1]}; END""")


def _backfill(table: str, source: int, text: str, which: str) -> None:
    """Copy the stored rows in, `_CHUNK` ids at a time (each statement holds little)."""
    conn = op.get_bind()
    last = conn.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0
    insert = sa.text(f"INSERT INTO {FTS_TABLE}(rowid, body) "
                     f"SELECT id * 4 + {source}, {FOLD_FUNCTION}({text.format(r='')}) "
                     f"FROM {table} WHERE id > :low AND id <= :high "
                     f"AND {which.format(r='')}")
    for low in range(0, last, _CHUNK):
        conn.execute(insert, {"low": low, "high": low + _CHUNK})


def _postgres_upgrade() -> None:
    conn = op.get_bind()
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # ICU's root locale lower-cases every script the same whatever the database's
    # locale (in the C locale, lower() leaves "Ó" as it is); without ICU, the default.
    icu = conn.execute(sa.text(
        "SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")).first() is not None
    collate = ' COLLATE "und-x-icu"' if icu else ""
    # PL/pgSQL is never inlined, so a query names the same call its index does; the
    # high COST tells the planner that running it on every row is dear (use the index).
    op.execute(f"""CREATE FUNCTION {FOLD_FUNCTION}(t text) RETURNS text
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 1000 AS $$ BEGIN
        RETURN regexp_replace(lower(normalize(t, NFC){collate}), '\\s+', ' ', 'g');
        END $$""")
    for (table, _, text, which, _), index in zip(_SOURCES, _PG_INDEXES, strict=True):
        where = "" if which == "1" else f" WHERE {which}"
        op.execute(f"CREATE INDEX {index} ON {table} USING gin "
                   f"({FOLD_FUNCTION}({text.format(r='')}) gin_trgm_ops)"
                   f"{where.format(r='')}")


_PG_INDEXES = ("ix_search_message", "ix_search_subject", "ix_search_contact",
               "ix_search_identity")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, *_ in _SOURCES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {FTS_TABLE}_{table}_{event}")
        op.execute(f"DROP TABLE {FTS_TABLE}")
        return
    for index in _PG_INDEXES:
        op.execute(f"DROP INDEX {index}")
    op.execute(f"DROP FUNCTION {FOLD_FUNCTION}(text)")
