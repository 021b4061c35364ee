"""Canned answers: a shared library of saved replies (docs/canned.md).

An answer has a name agents type after "/" in the reply box (`refund-status`), and
versions: for every team or for one team, and in a language or the fallback one. The
reply box offers the answers of the conversation's team plus those for every team, and
of each name the version in the customer's language when there is one (else the
fallback); the version's body is a Jinja2 template filled with the customer's and the
agent's names, rendered in the same bounded sandbox as the admins' file templates
(inbox.lang.render). A template that does not compile, names a variable nobody gives,
or fails on sample values is refused when it is saved, naming its line: filling it in
the reply box is not the moment an agent should learn of it.

Only admins change the library (Action.MANAGE_CANNED_ANSWERS, asked by the faces).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core import tokens
from inbox.core.directory import Directory, check
from inbox.core.errors import Conflict, Invalid, NotFound
from inbox.core.vocab import iso
from inbox.lang.render import SourceTemplate, TemplateError
from inbox.store.models import CannedAnswer, Contact, Conversation

# What a body may use; docs/canned.md lists them.
VARIABLES = frozenset({"customer_name", "customer_first_name", "agent_name", "reference",
                       "subject"})
MAX_NAME = 48  # characters (the column's size)
MAX_BODY = 20_000  # characters of one version's template
MAX_LIBRARY = 2_000  # versions read for one search: a library, not a database
SHOWN = 8  # answers offered at once in the reply box
# Languages whose speakers put the family name first: the given name, by which a
# customer is greeted, is the last word ("Nguyễn Văn An" is An).
FAMILY_FIRST = frozenset({"vi", "zh", "ja", "ko", "hu"})
_SAMPLES = (  # what a body is tried with when saved: a full name and none at all
    {"customer_name": "Anna Nowak", "customer_first_name": "Anna", "agent_name": "Kim",
     "reference": "[#42-k7q2m]", "subject": "Order 1234"},
    {"customer_name": "", "customer_first_name": "", "agent_name": "Kim",
     "reference": "[#42-k7q2m]", "subject": ""},
)
_NAME_MARKS = "_-."
# Letters that do not decompose into a base letter and a mark.
_LOOSE = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe",
                        "ı": "i"})


class TemplateRefused(TemplateError):
    """A body that cannot be filled; the message names the answer and the line."""


@dataclass(frozen=True)
class Version:
    """Which version: a name, a team ("" every team), a language ("" the fallback)."""

    name: str
    team: str = ""
    language: str = ""

    def label(self) -> str:
        """How problems name it: `refund-status` or `refund-status (billing, pl)`."""
        more = [x for x in (self.team, self.language) if x]
        return f"{self.name} ({', '.join(more)})" if more else self.name


def version(name: str, team: str | None = None, language: str | None = None) -> Version:
    """The version named, checked and in the form it is stored (lowercased)."""
    name = unicodedata.normalize("NFC", name.strip().removeprefix("/")).lower()
    if not name or len(name) > MAX_NAME or not all(
            c.isalnum() or c in _NAME_MARKS or unicodedata.category(c).startswith("M")
            for c in name):
        raise Invalid(f"a canned answer's name is one word of up to {MAX_NAME} letters, "
                      f"digits, '-', '_' or '.', as typed after '/': not {name!r}")
    return Version(name, (team or "").strip(), _language(language))


def _language(language: str | None) -> str:
    code = (language or "").strip().lower().replace("_", "-")
    parts = code.split("-")
    if code and not (2 <= len(parts[0]) <= 3 and parts[0].isascii() and parts[0].isalpha()
                     and all(p.isascii() and p.isalnum() and 1 <= len(p) <= 8
                             for p in parts[1:]) and len(code) <= 16):
        raise Invalid(f"{language!r} is not a language code (e.g. pl, vi, pt-br)")
    return code


def check_body(v: Version, body: str) -> SourceTemplate:
    """The body compiled, or TemplateRefused naming the line: a syntax error, a variable
    nobody gives, or a failure (the sandbox's refusals included) on sample values."""
    if not body.strip():
        raise Invalid(f"{v.label()}: the text is empty")
    if len(body) > MAX_BODY:
        raise Invalid(f"{v.label()}: the text is longer than {MAX_BODY} characters")
    try:
        template = SourceTemplate(v.label(), body, VARIABLES)
        for sample in _SAMPLES:
            template.render(sample)
    except TemplateError as exc:
        raise TemplateRefused(str(exc)) from None
    return template


# --- the library: add, change, remove, list ------------------------------------------

def add(s: Session, v: Version, body: str, *, by: str, now: datetime,
        directory: Directory) -> CannedAnswer:
    """A new version; Conflict if that name, team and language has one already."""
    if v.team:
        check(directory, teams=[v.team])
    check_body(v, body)
    answer = CannedAnswer(name=v.name, team=v.team, language=v.language,
                          body=body.replace("\r\n", "\n"), changed_by=by, changed_at=now)
    _saved(s, answer, v)
    return answer


def update(s: Session, answer_id: int, v: Version, body: str, *, by: str, now: datetime,
           directory: Directory) -> CannedAnswer:
    """Change a version's text, and its name, team or language if `v` says others."""
    answer = get(s, answer_id)
    if v.team and v.team != answer.team:
        check(directory, teams=[v.team])
    check_body(v, body)
    answer.name, answer.team, answer.language = v.name, v.team, v.language
    answer.body, answer.changed_by, answer.changed_at = body.replace("\r\n", "\n"), by, now
    _saved(s, answer, v)
    return answer


def _saved(s: Session, answer: CannedAnswer, v: Version) -> None:
    """Write it; the unique constraint is the judge, also between two admins at once."""
    try:
        with s.begin_nested():
            s.add(answer)
            s.flush()
    except IntegrityError:
        raise Conflict(f"the canned answer {v.label()} exists already: change that "
                       "one") from None


def get(s: Session, answer_id: int) -> CannedAnswer:
    found = s.get(CannedAnswer, answer_id)
    if found is None:
        raise NotFound(f"no canned answer {answer_id}")
    return found


def find(s: Session, v: Version) -> CannedAnswer:
    found = s.scalars(sa.select(CannedAnswer).where(
        col(CannedAnswer.name) == v.name, col(CannedAnswer.team) == v.team,
        col(CannedAnswer.language) == v.language)).first()
    if found is None:
        raise NotFound(f"no canned answer {v.label()}")
    return found


def remove(s: Session, answer: CannedAnswer) -> None:
    s.delete(answer)
    s.flush()


def listing(s: Session, team: str | None = None) -> list[CannedAnswer]:
    """Every version (of one team's and the every-team answers, when `team` is given),
    by name, team and language."""
    q = sa.select(CannedAnswer).order_by(col(CannedAnswer.name), col(CannedAnswer.team),
                                         col(CannedAnswer.language))
    if team is not None:
        q = q.where(col(CannedAnswer.team).in_(["", team]))
    return list(s.scalars(q))


def as_json(a: CannedAnswer) -> dict[str, Any]:
    """One version as `inbox canned list --json` prints it (docs/cli-json.md)."""
    return {"id": a.id, "name": a.name, "team": a.team or None,
            "language": a.language or None, "body": a.body, "changed_by": a.changed_by,
            "changed_at": iso(a.changed_at)}


# --- the reply box: search and fill --------------------------------------------------

def loose(text: str) -> str:
    """`text` compared loosely: case, accents and marks dropped ("Zwrot" and "zwrót",
    "hoàn tiền" and "hoan tien", "Łódź" and "lodz" are alike)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LOOSE))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search(s: Session, query: str, team: str | None, language: str | None
           ) -> list[CannedAnswer]:
    """The answers the reply box offers for "/query" in a conversation of `team` and
    `language`: of the team's and the every-team answers, those whose name or any
    version's text holds `query` (names that begin with it first), one version each."""
    q = loose(query.strip().removeprefix("/"))
    versions = s.scalars(sa.select(CannedAnswer)
                         .where(col(CannedAnswer.team).in_(["", team or ""]))
                         .order_by(col(CannedAnswer.name)).limit(MAX_LIBRARY)).all()
    by_name: dict[str, list[CannedAnswer]] = {}
    for a in versions:
        by_name.setdefault(a.name, []).append(a)
    found = [(0 if loose(name).startswith(q) else 1 if q in loose(name) else 2, name)
             for name, group in by_name.items()
             if q in loose(name) or any(q in loose(a.body) for a in group)]
    return [best(by_name[name], team, language) for _, name in sorted(found)[:SHOWN]]


def best(versions: list[CannedAnswer], team: str | None, language: str | None
         ) -> CannedAnswer:
    """The version for a customer of `language` in a conversation of `team`: their
    language (or its main part: `pt` for `pt-br`), else the fallback, else any; the
    team's own before the every-team one of the same language."""
    wanted = _language(language) if language else ""
    main = wanted.split("-")[0]

    def rank(a: CannedAnswer) -> tuple[int, int, str]:
        lang = (0 if wanted and a.language == wanted else
                1 if main and a.language == main else 2 if not a.language else 3)
        return lang, 0 if team and a.team == team else 1, a.language
    return min(versions, key=rank)


def first_name(name: str, language: str | None) -> str:
    """The word a customer is greeted by: the first of their name, or the last where
    the family name comes first (FAMILY_FIRST)."""
    words = name.split()
    if not words:
        return ""
    return words[-1] if (language or "").split("-")[0].lower() in FAMILY_FIRST else words[0]


def fill(s: Session, answer: CannedAnswer, conv: Conversation, agent: str, *,
         secret: str) -> str:
    """The answer's text for this conversation, ready to send."""
    assert conv.id is not None
    contact = s.get(Contact, conv.contact_id)
    name = contact.name.strip() if contact else ""
    values = {"customer_name": name, "customer_first_name": first_name(name, conv.language),
              "agent_name": agent, "reference": tokens.reference(secret, conv.id),
              "subject": conv.subject or ""}
    v = Version(answer.name, answer.team, answer.language)
    return SourceTemplate(v.label(), answer.body, VARIABLES).render(values)
