"""search: PostgreSQL stores the folded text, so a trigram match needs no refolding

0005 indexed the expression `inbox_fold(column)`; a GIN trigram index only narrows, and
PostgreSQL confirmed each candidate by running the PL/pgSQL function again (~9 µs a
row: a word in every conversation took 1.8 s at 100,000). Now each searched table has a
STORED generated column `search_folded` (the database computes it on every INSERT and
UPDATE of its sources, whoever writes) and the GIN index is on that column, so the
recheck is a plain LIKE. Messages not searched (acknowledgements, notices) hold NULL, so
ingest folds no more text than before. SQLite is unchanged: FTS5 needs no recheck.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As inbox.store.search has them when this revision was written.
FOLD_FUNCTION, COLUMN = "inbox_fold", "search_folded"
_KINDS = "kind IN ('customer', 'agent', 'note')"
# (table, index, the text 0005 indexed, which rows 0005 indexed)
_SOURCES = (
    ("message", "ix_search_message", "text", _KINDS),
    ("conversation", "ix_search_subject", "subject", ""),
    ("contact", "ix_search_contact", "name", ""),
    ("identity", "ix_search_identity", "address || ' ' || name", ""),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, index, text, which in _SOURCES:
        folded = f"{FOLD_FUNCTION}({text})"
        if which:  # NULL for the rows nobody searches: ingest folds no more than before
            folded = f"CASE WHEN {which} THEN {folded} END"
        op.execute(f"DROP INDEX {index}")
        # Adding a stored column rewrites the table once, computing every row.
        op.execute(f"ALTER TABLE {table} ADD COLUMN {COLUMN} text "
                   f"GENERATED ALWAYS AS ({folded}) STORED")
        op.execute(f"CREATE INDEX {index} ON {table} USING gin ({COLUMN} gin_trgm_ops)"
                   f"{' WHERE ' + which if which else ''}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, index, text, which in _SOURCES:
        op.execute(f"DROP INDEX {index}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {COLUMN}")
        op.execute(f"CREATE INDEX {index} ON {table} USING gin "
                   f"({FOLD_FUNCTION}({text}) gin_trgm_ops)"
                   f"{' WHERE ' + which if which else ''}")
