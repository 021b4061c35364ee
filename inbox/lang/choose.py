"""Which language a conversation is answered in: one pure function, `choose`.

The order (issue #17, docs/languages.md), first that applies wins:

1. an agent's choice for this conversation (`agent`) — later messages never change it;
2. the contact's preferred language (`contact`), set by an agent or learned;
3. a confident detection of this message's new words (`detected`);
4. the contact's last confident language (`history`);
5. the channel's hint, a served language only (`channel`: Telegram's language_code, a
   Content-Language header);
6. the deployment's default (`default`).

`learn` keeps the contact's side: the last confident language and how many confident
detections in a row agreed (counted up to `learn_after`); after `learn_after` of them
the language becomes the contact's preference ("learned"), unless an agent set one.
`combine` joins two contacts' facts when an agent merges them (inbox.desk.contacts).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

AGENT, CONTACT, DETECTED, HISTORY, CHANNEL, DEFAULT = (
    "agent", "contact", "detected", "history", "channel", "default")
SOURCES = (AGENT, CONTACT, DETECTED, HISTORY, CHANNEL, DEFAULT)
LEARNED = "learned"  # a contact preference nobody set by hand


class Detected(Protocol):
    """What a detector said about one message (inbox.lang.detect.Detection)."""

    @property
    def language(self) -> str | None: ...

    @property
    def confidence(self) -> float: ...

    @property
    def reason(self) -> str: ...


class Detects(Protocol):
    """A language detector (inbox.lang.detect): `subject_is_ours` when the subject is
    one we wrote (a reply's "Re: ..."), which says nothing of the customer's language."""

    def detect(self, text: str, subject: str | None = None, *,
               subject_is_ours: bool = False) -> Detected: ...


@dataclass(frozen=True)
class ContactLanguage:
    """The contact's language facts as the store keeps them."""

    preferred: str | None = None
    preferred_source: str | None = None  # "agent" or "learned"
    last: str | None = None
    last_count: int = 0


@dataclass(frozen=True)
class Choice:
    language: str
    source: str


def primary(tag: str) -> str:
    """`pt-BR` -> `pt`, `fil` -> `tl`: the subtag our templates, detector and rules use
    (rules name languages by it or by the full tag)."""
    first = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    return "tl" if first == "fil" else first


def choose(*, conversation: tuple[str | None, str | None], contact: ContactLanguage,
           detected: str | None, hint: str | None, served: AbstractSet[str],
           default: str) -> Choice:
    """The language to answer in and where it came from (the order above)."""
    language, source = conversation
    if source == AGENT and language:
        return Choice(language, AGENT)
    if contact.preferred:
        return Choice(contact.preferred, CONTACT)
    if detected:
        return Choice(detected, DETECTED)
    if contact.last:
        return Choice(contact.last, HISTORY)
    if hint and primary(hint) in served:
        return Choice(primary(hint), CHANNEL)
    return Choice(default, DEFAULT)


def learn(contact: ContactLanguage, detected: str | None, learn_after: int) -> ContactLanguage:
    """The contact after one more detection (None: unknown, which changes nothing)."""
    if detected is None:
        return contact
    # Counted up to `learn_after` only: a regular customer's next message in the same
    # language then changes nothing, and nothing is written.
    count = min(contact.last_count + 1, learn_after) if detected == contact.last else 1
    preferred, source = contact.preferred, contact.preferred_source
    if source != AGENT and count >= learn_after:
        preferred, source = detected, LEARNED
    return ContactLanguage(preferred, source, detected, count)


def combine(keep: ContactLanguage, other: ContactLanguage) -> ContactLanguage:
    """The language facts of two contacts found to be one person (inbox.desk.contacts).

    An agent's preference wins, the kept contact's first; else the kept contact's
    learned one, or the other's when the kept contact has none. Two runs of the same
    language are one longer run, so their counts add up (`learn` caps the sum at the
    next detection); runs of different languages cannot be joined, and which came last
    is not kept, so the kept contact's run stands (the other's when it has none).
    """
    if keep.preferred_source == AGENT and keep.preferred:
        preferred = keep
    elif other.preferred_source == AGENT and other.preferred:
        preferred = other
    else:
        preferred = keep if keep.preferred else other
    run = keep if keep.last else other
    count = run.last_count
    if keep.last and keep.last == other.last:
        count = keep.last_count + other.last_count
    return ContactLanguage(preferred.preferred, preferred.preferred_source, run.last, count)
