"""What every `inbox` command shares: failures as one line, and no connection left open.

A failure that is the user's to fix (a config mistake, an unknown conversation, a broken
rule file) is one line on stderr and exit code 1; anything else is "internal error" and
exit code 2, with the traceback only when INBOX_DEBUG is set. The modules behind the
error classes are imported only when something failed, so a command starts quickly.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from inbox.core.errors import InboxError, Invalid

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from inbox.runtime.app import App

P = ParamSpec("P")
R = TypeVar("R")

_opened: list[App] = []  # closed when the command ends, so no connection outlives it


class CliError(Invalid):
    """A mistake in how a command was called; the message says what to do instead."""


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/cli-json.md).")]


def opened(app: App) -> App:
    """Close `app`'s connections when the running command ends."""
    _opened.append(app)
    return app


def app_of(ctx: typer.Context) -> App:
    """The deployment a subcommand runs in: `--config`, $INBOX_CONFIG or ./inbox.toml
    (or $INBOX_DATABASE_URL alone). Imported here, not at the top: every command
    loads this module, and most need no App."""
    from pathlib import Path

    from inbox.core.config import CONFIG_NAME, find_config, load_settings
    from inbox.runtime.app import App

    path = find_config(ctx.find_root().params.get("config"), os.environ)
    if path is None and not os.environ.get("INBOX_DATABASE_URL"):
        raise CliError(f"no inbox.toml: looked at --config, $INBOX_CONFIG and "
                       f"{Path.cwd() / CONFIG_NAME}; run this in a deployment")
    return opened(App(load_settings(path)))


@contextmanager
def writing(ctx: typer.Context) -> Iterator[Session]:
    """One write transaction on the deployment's database, checked to be at our schema."""
    from sqlalchemy.orm import Session

    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        yield s


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _expected() -> tuple[type[Exception], ...]:
    """The failures a person can act on: ours (inbox.core.errors), the database refusing,
    the operating system's (a missing file), and malformed input (a mail file)."""
    from sqlalchemy.exc import OperationalError

    return (InboxError, OperationalError, OSError, ValueError)


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
