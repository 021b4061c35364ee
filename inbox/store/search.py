"""The search index: which conversations hold every one of some phrases (docs/search.md).

What an agent searches, per conversation: its subject, the text of its customer
messages, replies and notes (not our acknowledgements and notices, which would match
every conversation), and its contact's name and addresses. Text is compared folded:
NFC, case-folded, every run of whitespace one space, so "Nguyễn" typed precomposed finds
a decomposed one and a phrase finds its words across a line break.

Both databases index trigrams, which find a phrase inside a run of letters without
spaces (Thai) as easily as a word:
- SQLite: one FTS5 table, tokenize='trigram', holding the folded text under an encoded
  rowid (`id * 4 + source`). Triggers keep it in step on every write, whoever writes;
  they fold with `inbox_fold`, a Python function every connection of ours registers.
- PostgreSQL: a STORED generated column `search_folded` on each searched table holding
  `inbox_fold(column)`, an SQL function of the migrations (NFC, Unicode lower case through
  ICU whatever the database's locale), and a pg_trgm GIN index on it, which serves
  `LIKE '%phrase%'`; the database keeps both in step itself. The index only narrows;
  each candidate is confirmed against the stored text, not folded again (0009).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

FOLD_FUNCTION = "inbox_fold"
FTS_TABLE = "search_index"  # SQLite; FTS5 adds shadow tables named search_index_*
# PostgreSQL: generated columns and GIN indexes, which the models do not declare
# (SQLite has neither).
PG_COLUMN = "search_folded"
PG_INDEXES = ("ix_search_message", "ix_search_subject", "ix_search_contact",
              "ix_search_identity")
INDEXED_KINDS = ("customer", "agent", "note")
MIN_CHARS = 3  # a trigram index finds nothing shorter
# The `source` part of an FTS rowid (`id * 4 + source`): what the id is of.
MESSAGE, SUBJECT, CONTACT, IDENTITY = 0, 1, 2, 3

_SPACE = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """The form text is indexed and searched in. Registered with SQLite as `inbox_fold`:
    the triggers call it on every write, so it must stay deterministic."""
    if not text:
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text.casefold()))


def register(dbapi_conn: Any) -> None:
    """Make `inbox_fold` callable on a new SQLite connection (the triggers need it)."""
    dbapi_conn.create_function(FOLD_FUNCTION, 1, fold, deterministic=True)


def is_search_object(name: str | None) -> bool:
    """The index's tables, columns and indexes, which are not models
    (tests/store/test_migrations)."""
    return bool(name) and (str(name).startswith(FTS_TABLE)
                           or name in PG_INDEXES or name == PG_COLUMN)


def conversations(dialect: str, phrases: Sequence[str]) -> sa.Select[tuple[int]]:
    """The ids of conversations holding every phrase (at least MIN_CHARS long) in their
    subject, messages or contact. Each database folds the phrases as it folds its text."""
    one = _sqlite_hits if dialect == "sqlite" else _postgres_hits
    every = "\nINTERSECT\n".join(f"SELECT conversation_id FROM ({one(i)}) AS p{i}"
                                  for i in range(len(phrases)))
    found = (sa.text(every).bindparams(**{f"p{i}": _bind(dialect, p)
                                         for i, p in enumerate(phrases)})
             .columns(sa.column("conversation_id", sa.Integer)).subquery("found"))
    return sa.select(found.c.conversation_id)


def _bind(dialect: str, phrase: str) -> str:
    if dialect == "sqlite":  # one FTS5 phrase: quoted, so '*', 'OR', '(' are text
        return '"' + fold(phrase).replace('"', '""') + '"'
    # LIKE's wildcards escaped; inbox_fold (SQL) folds the pattern as it folds the text.
    return "%" + re.sub(r"([\\%_])", r"\\\1", phrase) + "%"


def _sqlite_hits(i: int) -> str:
    # A CTE used four times is computed once (SQLite materialises it).
    return f"""
          WITH hit AS (SELECT rowid / 4 AS id, rowid % 4 AS source FROM {FTS_TABLE}
                       WHERE {FTS_TABLE} MATCH :p{i})
          SELECT m.conversation_id FROM hit JOIN message m ON m.id = hit.id
           WHERE hit.source = {MESSAGE} AND m.conversation_id IS NOT NULL
          UNION SELECT hit.id FROM hit WHERE hit.source = {SUBJECT}
          UNION SELECT c.id FROM hit JOIN conversation c ON c.contact_id = hit.id
           WHERE hit.source = {CONTACT}
          UNION SELECT c.id FROM hit JOIN identity i ON i.id = hit.id
           JOIN conversation c ON c.contact_id = i.contact_id WHERE hit.source = {IDENTITY}"""


def _postgres_hits(i: int) -> str:
    # The message index is partial: the query repeats its condition so the planner uses it.
    kinds = ", ".join(f"'{k}'" for k in INDEXED_KINDS)
    like = f"{PG_COLUMN} LIKE {FOLD_FUNCTION}(:p{i})"  # folded as the text was
    return f"""
        SELECT conversation_id FROM message
         WHERE kind IN ({kinds}) AND {like} AND conversation_id IS NOT NULL
        UNION SELECT id FROM conversation WHERE {like}
        UNION SELECT c.id FROM contact k JOIN conversation c ON c.contact_id = k.id
         WHERE k.{like}
        UNION SELECT c.id FROM identity i JOIN conversation c ON c.contact_id = i.contact_id
         WHERE i.{like}"""
