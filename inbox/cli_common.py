"""What every `inbox` command shares: failures as one line, and no connection left open.

A failure that is the user's to fix (a config mistake, an unknown conversation, a broken
rule file) is one line on stderr and exit code 1; anything else is "internal error" and
exit code 2, with the traceback only when INBOX_DEBUG is set. The modules behind the
error classes are imported only when something failed, so a command starts quickly.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from inbox.app import App

P = ParamSpec("P")
R = TypeVar("R")

_opened: list[App] = []  # closed when the command ends, so no connection outlives it


class CliError(Exception):
    """A mistake in how a command was called; the message says what to do instead."""


def opened(app: App) -> App:
    """Close `app`'s connections when the running command ends."""
    _opened.append(app)
    return app


def _expected() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import OperationalError

    from channels.mailfiles import MailFileError
    from inbox.actions import ActionError
    from inbox.app import SecretMissing
    from inbox.config import ConfigError
    from inbox.directory import UnknownName
    from inbox.liveness import AlreadyRunning
    from inbox.migrations import SchemaError
    from inbox.rawdb import ReadError

    return (CliError, ConfigError, SchemaError, ActionError, SecretMissing, MailFileError,
            OperationalError, ReadError, OSError, ValueError, AlreadyRunning, UnknownName)


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn known failures into one line and exit code 1; unknown ones into exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = fn(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, where it can be handled
            return result
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            _reader_gone()
        except Exception as exc:
            return _explain(exc)
        finally:
            while _opened:
                _opened.pop().close()

    return wrapper


def _reader_gone() -> NoReturn:
    """`inbox queue | head -1`: the reader has what it wanted. Nothing to report; what is
    still buffered goes nowhere, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(1)


def _explain(exc: Exception) -> NoReturn:
    from inbox.rules import RulesError

    if isinstance(exc, RulesError):  # every problem of every file, each with file:line
        for problem in exc.problems:
            typer.echo(f"inbox: {problem}", err=True)
        raise typer.Exit(1) from None
    if isinstance(exc, _expected()):
        fail(1, _one_line(exc))
    if os.environ.get("INBOX_DEBUG"):
        raise exc
    fail(2, f"internal error: {type(exc).__name__}: {exc} (INBOX_DEBUG=1 shows more)")


def _one_line(exc: BaseException) -> str:
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        return f"database error: {str(exc.orig).strip().splitlines()[0]}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def fail(code: int, message: str) -> NoReturn:
    typer.echo(f"inbox: {message}", err=True)
    raise typer.Exit(code)
