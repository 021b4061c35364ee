"""One root for the failures that are the user's to understand, in four families.

Raised deep inside (a store, an action, a config loader), translated once at each edge:
the CLI prints the message as one line and exits 1 (inbox.cli.common); the web layer
maps a family to an HTTP status (NotFound 404, Conflict 409, Invalid 422, Unavailable
503). Anything that is not an InboxError is a bug and is reported as one.

The channels do not import this (they know only channels.base): their errors keep the
channel taxonomy there, and a malformed mail file is a ValueError.
"""

from __future__ import annotations


class InboxError(Exception):
    """A failure the message explains to the person who met it."""


class NotFound(InboxError):
    """What was named does not exist: a conversation, an agent, a file."""


class Conflict(InboxError):
    """The request cannot be done in the present state: another daemon runs, the
    conversation cannot take this change now."""


class Invalid(InboxError):
    """The input or the configuration cannot work; the message says which key or value."""


class Unavailable(InboxError):
    """Something needed is not there now: the database, its schema, a server."""
