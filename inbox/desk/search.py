"""Search the conversations: what the queue shows, narrowed to those holding some text.

A query is split at whitespace into terms, and a conversation is found when every term
is somewhere in it: its subject, a customer message, a reply or a note, its contact's
name or an address (docs/search.md). Case and Unicode form do not matter ("ZAMÓWIENIE"
finds "zamówienie"; a precomposed "Nguyễn" finds a decomposed one). The index is of
trigrams, so a term is found inside a longer run of letters (Thai writes no spaces
between words), and a term must have at least three characters: a shorter one is
searched together with the term after it (or, at the end, before it) as one phrase, so
"mã đơn" or "من پول" still work; a query shorter than three characters in all is refused.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from inbox.core.errors import Invalid
from inbox.desk import views
from inbox.store.search import MIN_CHARS

TOO_SHORT = f"type at least {MIN_CHARS} characters to search"


class QueryTooShort(Invalid):
    """A query the trigram index cannot answer."""


def phrases(query: str) -> tuple[str, ...]:
    """The phrases a conversation must hold, each at least MIN_CHARS characters: short
    terms joined to a neighbour with one space (as the index folds any whitespace)."""
    found: list[str] = []
    pending = ""
    for term in unicodedata.normalize("NFC", query).split():
        pending = f"{pending} {term}" if pending else term
        if len(pending) >= MIN_CHARS:
            found.append(pending)
            pending = ""
    if pending and found:
        found[-1] = f"{found[-1]} {pending}"
    elif pending or not found:
        raise QueryTooShort(TOO_SHORT)
    return tuple(found)


def search(s: Session, query: str, f: views.QueueFilter, now: datetime,
           secret: str) -> list[views.JSON]:
    """The conversations of the queue `f` describes that hold every term of `query`, in
    the queue's order (most urgent first) and the queue's row shape."""
    return views.queue(s, replace(f, phrases=phrases(query)), now, secret)
