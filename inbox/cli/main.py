"""The `inbox` command: set up a deployment, run the daemon, work the queue.

Every listing has `--json` with the shapes documented in docs/cli-json.md. Errors are one
line on stderr and a non-zero exit, never a traceback (set INBOX_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

import inbox.cli.digest  # registers `inbox report digest`
import inbox.cli.reports  # noqa: F401  (registers `inbox report volume` and the rest)
from inbox.cli.agents import agent_cli, team_cli
from inbox.cli.canned import canned_cli
from inbox.cli.common import CliError, fail, friendly, opened, print_json
from inbox.cli.contacts import contact_cli
from inbox.cli.export import export_cli
from inbox.cli.rules import rules_cli
from inbox.cli.sla import parse_when, report_cli, watch
from inbox.cli.templates import templates_cli
from inbox.cli.tokens import token_cli
from inbox.core.config import CONFIG_NAME, find_config, load_settings
from inbox.core.vocab import Status
from inbox.runtime.app import App, utcnow

if TYPE_CHECKING:
    # Each command imports what it needs: SQLAlchemy alone takes 0.15 s to load, and
    # `inbox --help` or `inbox sla` need none of it (inbox.store.rawdb).
    from sqlalchemy.orm import Session

cli = typer.Typer(help="Self-hosted omnichannel inbox.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(rules_cli, name="rules")
cli.command("sla")(watch)
cli.add_typer(report_cli, name="report")
cli.add_typer(export_cli, name="export")
cli.add_typer(templates_cli, name="templates")
cli.add_typer(agent_cli, name="agent")
cli.add_typer(team_cli, name="team")
outbox_cli = typer.Typer(help="The outbox: what waits to be sent, and what was given up.")
cli.add_typer(outbox_cli, name="outbox")
cli.add_typer(canned_cli, name="canned")
cli.add_typer(token_cli, name="token")
cli.add_typer(contact_cli, name="contact")

_state: dict[str, Path | None] = {"config": None}
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/cli-json.md).")]
AsOpt = Annotated[str | None, typer.Option(
    "--as", "--author", envvar="INBOX_AGENT", show_envvar=True,
    help="The agent doing this: an agent's name (`inbox agent list`).")]


@cli.callback()
def _main(config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="inbox.toml (default: $INBOX_CONFIG, then ./inbox.toml)")] = None
          ) -> None:
    _state["config"] = config


def _app() -> App:
    path = find_config(_state["config"], os.environ)
    if path is None and not os.environ.get("INBOX_DATABASE_URL"):
        # Without a deployment the defaults would make ./inbox.db here: a second, empty
        # deployment in the wrong place. Say where we looked instead.
        raise CliError(f"no inbox.toml: looked at --config, $INBOX_CONFIG and "
                       f"{Path.cwd() / CONFIG_NAME}; run this in a deployment, point at "
                       "one with --config FILE or INBOX_CONFIG=FILE, or make one with "
                       "`inbox init DIR`")
    return opened(App(load_settings(path)))


@contextmanager
def _session(app: App, *, write: bool = False) -> Iterator[Session]:
    from sqlalchemy.orm import Session

    from inbox.store.db import check_schema

    check_schema(app.engine)
    with Session(app.engine, expire_on_commit=False) as s:
        if write:
            with s.begin():
                yield s
        else:
            yield s


@cli.command()
@friendly
def init(directory: Path, force: Annotated[bool, typer.Option(
        help="Overwrite an existing inbox.toml.")] = False) -> None:
    """Create a deployment: inbox.toml, templates/, rules/, a secret key, a database."""
    from inbox.runtime.deployment import init_deployment
    from inbox.store.db import upgrade

    config = init_deployment(directory, force=force)
    app = App(load_settings(config))  # INBOX_DATABASE_URL, if set, is the one migrated
    upgrade(app.engine)
    app.close()
    typer.echo(f"created {config}\nnext: cd {directory} && inbox run")


@cli.command()
@friendly
def run(once: Annotated[bool, typer.Option(
        help="Fetch, send and sweep once, then exit.")] = False,
        log_format: Annotated[Literal["text", "json"] | None, typer.Option(
            help="text, or json: one object per line (default: $INBOX_LOG_FORMAT, "
                 "then log_format in inbox.toml, then text).")] = None) -> None:
    """Run the daemon: connectors, outbox dispatcher, SLA sweep. Stops on SIGTERM/SIGINT."""
    import asyncio

    from inbox.runtime import logs
    from inbox.runtime.daemon import Daemon, install_signal_handlers
    from inbox.store.db import check_schema

    app = _app()
    logs.setup(app.settings.log_level, log_format or app.settings.log_format)
    check_schema(app.engine)
    daemon = Daemon(app, app.connectors)

    async def main() -> None:
        if once:
            await daemon.run_once()
            return
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await daemon.run(stop)

    asyncio.run(main())


@cli.command()
@friendly
def ingest(paths: Annotated[list[Path], typer.Argument(help=".eml files, mbox files, Maildirs")],
           no_ack: Annotated[bool, typer.Option(
               "--no-ack", help="Backfill: acknowledge nobody.")] = False,
           account: Annotated[str | None, typer.Option(
               help="E-mail account to file under (default: the one configured).")] = None,
           workers: Annotated[int | None, typer.Option(help="Parser processes.")] = None,
           progress: Annotated[bool | None, typer.Option(
               help="Progress bar (default: when stderr is a terminal).")] = None,
           as_json: JsonOpt = False) -> None:
    """Feed e-mail files through the full pipeline (dedupe, thread, route, ack, SLA)."""
    from inbox.runtime.importer import import_paths
    from inbox.store.db import check_schema

    app = _app()
    check_schema(app.engine)
    ctx = app.pipeline_context(send_acks=not no_ack)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress_bar(paths) if show else None
    report = import_paths(app.engine, paths, ctx, utcnow(),
                          account=_ingest_account(app, account), workers=workers,
                          progress=bar.update if bar else None)
    if bar:
        bar.close()
    summary = {"stored": report.outcomes["stored"], "duplicates": report.outcomes["duplicate"],
               "quarantined": report.outcomes["quarantined"], "flagged": report.flagged,
               "acks_queued": report.acks}
    if as_json:
        print_json(summary)
    else:
        typer.echo(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary.items()))


def _progress_bar(paths: list[Path]) -> Any:
    from tqdm import tqdm

    from inbox.runtime.importer import count_messages

    return tqdm(total=count_messages(paths), unit="msg", file=sys.stderr)


@cli.command()
@friendly
def queue(status: Annotated[list[str], typer.Option(
              help="open, pending, resolved, closed or all; repeatable.")] = ["open"],  # noqa: B006
          team: str | None = None, assignee: str | None = None, channel: str | None = None,
          tag: str | None = None, limit: int = 100, as_json: JsonOpt = False,
          automated: Annotated[bool, typer.Option(
              "--automated", help="Include conversations only robots wrote to "
              "(bounces, auto-replies, reports).")] = False,
          search: Annotated[str | None, typer.Option(
              help="Only conversations holding every word of TEXT in their subject, "
              "messages or contact (docs/search.md).")] = None,
          escalated: Annotated[bool, typer.Option(
              "--escalated", help="Only conversations escalated to a supervisor and "
              "not handled yet.")] = False,
          width: Annotated[int | None, typer.Option(
              help="Cut lines to this many terminal cells (0: never). Default: $COLUMNS, "
              "else the terminal's width; piped output is not cut.")] = None) -> None:
    """Open conversations, the most urgent SLA first; robots' only with --automated."""
    from inbox.cli.render import queue_lines
    from inbox.cli.screen import terminal_width
    from inbox.desk import views

    known = tuple(s.value for s in Status)
    statuses = known if "all" in status else tuple(status)
    if set(statuses) - set(known):
        raise CliError(f"unknown status {sorted(set(statuses) - set(known))[0]!r}; "
                       f"use {', '.join(known)} or all")
    app = _app()
    wanted = views.QueueFilter(statuses, team, assignee, channel, tag, limit, automated,
                               escalated=escalated)
    with _session(app) as s:
        if search is None:
            rows = views.queue(s, wanted, utcnow(), app.secret)
        else:
            from inbox.desk.search import search as find

            rows = find(s, search, wanted, utcnow(), app.secret)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("the queue is empty" if search is None else "nothing found", err=True)
        return
    typer.echo("\n".join(queue_lines(rows, terminal_width(width))))


@cli.command()
@friendly
def show(conversation_id: int, as_json: JsonOpt = False) -> None:
    """One conversation with all its messages and its event trail, in words."""
    from inbox.cli.render import conversation_lines
    from inbox.desk import views

    app = _app()
    with _session(app) as s:
        conv = views.conversation(s, conversation_id, utcnow(), app.secret)
    if conv is None:
        raise CliError(f"no conversation {conversation_id}")
    if as_json:
        print_json(conv)
        return
    zone = zoneinfo.ZoneInfo(app.settings.business_hours.timezone)
    typer.echo("\n".join(conversation_lines(conv, zone)))


@cli.command()
@friendly
def reply(conversation_id: int,
          message: Annotated[str | None, typer.Option("--message", "-m")] = None,
          file: Annotated[Path | None, typer.Option("--file", "-f")] = None,
          cc: Annotated[list[str] | None, typer.Option(
              "--cc", help="Copy this address (e-mail only; repeat for more).")] = None,
          seen_up_to: Annotated[int | None, typer.Option(
              "--seen-up-to", metavar="MESSAGE_ID",
              help="The newest message you read: if a colleague replied after it, "
                   "ask (or refuse) instead of sending.")] = None,
          force: Annotated[bool, typer.Option(
              "--force", help="Send even if a colleague replied meanwhile.")] = False,
          author: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Answer on the conversation's channel (text from -m, -f FILE, or $EDITOR), as the
    agent --as NAME or $INBOX_AGENT names."""
    from inbox.desk import actions
    from inbox.store.batch import text_limits

    app = _app()
    who = _author(app, author)  # before the editor opens: a refusal costs no writing
    if who is None:
        raise CliError(f"say who answers: --as NAME or INBOX_AGENT=NAME ({_agents(app)})")
    text = message if message is not None else _read_reply(file)

    def send(seen: int | None) -> dict[str, object]:
        with _session(app, write=True) as s:
            # the limits the daemon's connectors declared, as the desk counts with them
            limits = text_limits(s.connection())
            msg = actions.reply(s, conversation_id, text, author=who, now=utcnow(),
                                secret=app.secret, domain=app.settings.domain,
                                seen_up_to=seen, cc=cc or (), limits=limits)
            return {"conversation_id": conversation_id, "message_id": msg.id,
                    "external_id": msg.external_id, "delivery": msg.delivery,
                    "cc": msg.recipients[1:]}
    try:
        out = send(None if force else seen_up_to)
    except actions.ReplyCollision as exc:
        if not _send_anyway(exc, asking=not as_json):
            raise typer.Exit(COLLISION) from None
        out = send(None)
    except actions.TooLong as exc:
        fail(TOO_LONG, f"{exc}: shorten it (nothing was queued)")
    if as_json:
        print_json(out)
    else:
        typer.echo(f"reply queued as message {out['message_id']} (see `inbox outbox`)")


COLLISION = 3  # `inbox reply --seen-up-to`: a colleague replied meanwhile, nothing sent
TOO_LONG = 2  # `inbox reply`: longer than the channel takes in one message, nothing sent


def _send_anyway(collision: Exception, asking: bool) -> bool:
    """Say who replied meanwhile and what; ask at a terminal, else refuse (--force)."""
    from inbox.desk.actions import ReplyCollision

    assert isinstance(collision, ReplyCollision)
    names = " and ".join(collision.names)
    typer.echo(f"inbox: {names} replied meanwhile:", err=True)
    for m in collision.meanwhile:
        first = str(m["text"]).strip().splitlines()[0] if str(m["text"]).strip() else ""
        typer.echo(f"  #{m['id']} {m['author'] or 'someone'}: {first[:100]}", err=True)
    if asking and sys.stdin.isatty():
        return typer.confirm("Send yours anyway?", default=False, err=True)
    typer.echo("inbox: nothing sent; read their reply, or send anyway with --force",
               err=True)
    return False


@cli.command()
@friendly
def note(conversation_id: int,
         message: Annotated[str | None, typer.Option("--message", "-m")] = None,
         file: Annotated[Path | None, typer.Option("--file", "-f")] = None,
         author: AsOpt = None, as_json: JsonOpt = False) -> None:
    """An internal note, never sent to the customer (text from -m, -f FILE, or $EDITOR);
    colleagues it mentions (@kim) are told, if they may see the conversation."""
    from inbox.desk import mentions

    app = _app()
    who = _author(app, author)
    if who is None:
        raise CliError(f"say who writes: --as NAME or INBOX_AGENT=NAME ({_agents(app)})")
    text = message if message is not None else _read_reply(file)
    with _session(app, write=True) as s:
        written = mentions.note(s, conversation_id, text, author=who, now=utcnow(),
                                tell=app.mentions)
        out = {"conversation_id": conversation_id, "message_id": written.id}
    if as_json:
        print_json(out)
    else:
        typer.echo(f"note added as message {out['message_id']}")


def _author(app: App, given: str | None) -> str | None:
    """The agent `--as`/$INBOX_AGENT names, refused unless the directory knows them."""
    if not given:
        return None
    from inbox.core.directory import require_agent

    return require_agent(app.directory, given).name


def _agents(app: App) -> str:
    names = sorted(a.name for a in app.directory.agents())
    return f"agents: {', '.join(names)}" if names else \
        "there are no agents yet: add one with `inbox agent add`"


def _read_reply(file: Path | None) -> str:
    if file is not None:
        return sys.stdin.read() if str(file) == "-" else file.read_text()
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor or not sys.stdin.isatty():
        raise CliError("no reply text: use --message, --file, or set $EDITOR")
    with tempfile.NamedTemporaryFile("w+", suffix=".txt", delete=False) as fh:
        path = Path(fh.name)
    try:
        subprocess.run([*editor.split(), str(path)], check=True)
        return path.read_text()
    finally:
        path.unlink(missing_ok=True)


@cli.command()
@friendly
def assign(conversation_id: int, assignee: Annotated[str | None, typer.Argument()] = None,
           team: str | None = None, author: AsOpt = None) -> None:
    """Assign a conversation to an agent (empty string to unassign) and/or a team.

    Names must be agents and teams (`inbox agent list`); the event records --as (or
    $INBOX_AGENT), else the login name.
    """
    from inbox.desk import actions

    if assignee is None and team is None:
        raise CliError("say whom to assign: AGENT and/or --team TEAM")
    app = _app()
    by = _author(app, author) or os.environ.get("USER", "cli")
    with _session(app, write=True) as s:
        conv = actions.assign(s, conversation_id, assignee=assignee, team=team, now=utcnow(),
                              by=by, directory=app.directory)
        typer.echo(f"#{conv.id}: assignee {conv.assignee or '-'}, team {conv.team or '-'}")


@cli.command("language")
@friendly
def set_language(conversation_id: int, language: str,
                 contact: Annotated[bool, typer.Option(
                     "--contact", help="Also make it the contact's preferred language "
                                       "(their next conversations start in it).")] = False,
                 author: AsOpt = None) -> None:
    """Answer a conversation in LANGUAGE (th, fa, pl, tl, vi, en...): acks and
    templates use it and later detections never change it. `auto` hands the choice back
    to detection (docs/languages.md)."""
    from inbox.desk import actions

    app = _app()
    by = _author(app, author) or os.environ.get("USER", "cli")
    with _session(app, write=True) as s:
        conv = actions.set_language(s, conversation_id, language,
                                    served=app.settings.languages.serve, for_contact=contact,
                                    now=utcnow(), by=by)
        typer.echo(f"#{conv.id}: language {conv.language or '-'} "
                   f"({conv.language_source or 'chosen again at the next message'})"
                   + (", also the contact's preference" if contact else ""))


@cli.command("status")
@friendly
def set_status(conversation_id: int, status: Status,
               until: Annotated[str | None, typer.Option(
                   help='With snoozed: when it returns, e.g. "tomorrow 09:00".')] = None,
               author: AsOpt = None) -> None:
    """Set a conversation's status: open, pending, snoozed, resolved or closed.

    Pending and snoozed pause the SLA clock; open resumes it with the time it had left.
    """
    from inbox.desk import actions

    app = _app()
    by = _author(app, author) or os.environ.get("USER", "cli")
    now = utcnow()
    zone = zoneinfo.ZoneInfo(app.settings.business_hours.timezone)
    try:
        end = parse_when(until, now, zone) if until is not None else None
    except ValueError as exc:
        raise CliError(f"--until {exc}") from None
    with _session(app, write=True) as s:
        actions.set_status(s, conversation_id, status, now=now, by=by, policies=app.sla,
                           until=end, csat=app.settings.csat)
    typer.echo(f"#{conversation_id}: {status.value}"
               + (f" until {end.astimezone(zone):%a %d %b %H:%M %Z}" if end else ""))


@cli.command()
@friendly
def escalate(conversation_id: int,
             reason: Annotated[str, typer.Option(
                 help="Why a supervisor should look (required; at most 2000 characters).")],
             to: Annotated[str | None, typer.Option(
                 help="One supervisor's name (default: every supervisor).")] = None,
             author: AsOpt = None) -> None:
    """Escalate a conversation to the supervisors (or one, --to), who are told by e-mail
    or Telegram at once. It stays with whoever has it; a supervisor marks it handled."""
    from inbox.desk import escalation

    app = _app()
    by = _author(app, author) or os.environ.get("USER", "cli")
    with _session(app, write=True) as s:
        esc = escalation.escalate(s, conversation_id, reason, by=by, now=utcnow(), to=to,
                                  tell=app.escalations)
        added = bool(esc.more)
    typer.echo(f"#{conversation_id}: "
               + ("reason added to its open escalation" if added else
                  f"escalated to {to or 'the supervisors'}"))


@outbox_cli.callback(invoke_without_command=True)
@friendly
def outbox(ctx: typer.Context, state: Annotated[list[str], typer.Option(
               help="pending, failed, sending, sent, dead or all; repeatable.")
           ] = ["pending", "failed", "sending", "dead"],  # noqa: B006
           as_json: JsonOpt = False) -> None:
    """Sends waiting, failing, in flight, or dead-lettered (with the reason)."""
    if ctx.invoked_subcommand is not None:
        return
    from inbox.cli.render import outbox_line
    from inbox.desk import views

    states = views.OUTBOX_STATES if "all" in state else tuple(state)
    unknown = set(states) - set(views.OUTBOX_STATES)
    if unknown:
        raise CliError(f"unknown outbox state {sorted(unknown)[0]!r}; "
                       f"use {', '.join(views.OUTBOX_STATES)} or all")
    app = _app()
    served = frozenset((channel, account) for channel, accounts in app.settings.channels.items()
                       for account in accounts)
    with _session(app) as s:
        rows = views.outbox(s, states, served=served)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(outbox_line(r))
    if not rows:
        typer.echo("the outbox is empty", err=True)


@outbox_cli.command("retry")
@friendly
def outbox_retry(outbox_ids: Annotated[list[int], typer.Argument(
                     help="The ids `inbox outbox --state dead` lists.")],
                 author: AsOpt = None) -> None:
    """Send dead sends again, once their cause is mended (due now, attempts from zero;
    the recipient's address counts as reachable again)."""
    from inbox.desk import sends

    app = _app()
    by = _author(app, author) or os.environ.get("USER", "cli")
    with _session(app, write=True) as s:
        for outbox_id in outbox_ids:
            row = sends.retry(s, outbox_id, by=by, now=utcnow())
            typer.echo(f"send {outbox_id} ({row.kind} to {row.recipient}) queued again")


def _ingest_account(app: App, asked: str | None) -> str:
    """Mail is filed under an account that sends its acks: the only e-mail account, or the
    one named; without any, `import` (its acks wait, and `inbox outbox` says why)."""
    configured = sorted(app.settings.channels.get("email", {}))
    if asked is not None:
        return asked
    if len(configured) > 1:
        raise CliError(f"several e-mail accounts ({', '.join(configured)}): say which "
                       "one the mail came to with --account")
    return configured[0] if configured else "import"


@db_cli.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Migrate the database to the schema this version needs."""
    from inbox.store.db import upgrade

    app = _app()
    before, after = upgrade(app.engine)
    typer.echo(f"database at {after}" + (f" (was {before})" if before != after else ""))
    from inbox.cli.agents import adopt_config

    adopt_config(app)  # the agents and teams of inbox.toml become records


@db_cli.command("status")
@friendly
def db_status() -> None:
    """Show the database's schema revision and the one this version needs."""
    from inbox.store.db import current_revision, head_revision

    app = _app()
    current = current_revision(app.engine)
    head = head_revision()
    typer.echo(f"database {current or 'empty'}, code needs {head}"
               + ("" if current == head else " — run `inbox db upgrade`"))
    if current != head:
        raise typer.Exit(1)


@db_cli.command("backup")
@friendly
def db_backup(file: Annotated[Path, typer.Argument(
        help="Where to write the copy (replaced only once the new copy is complete).")]
              ) -> None:
    """Copy the SQLite database, consistently, while the daemon runs (docs/deploy.md)."""
    from inbox.store.backup import backup_sqlite

    url = _app().settings.resolved_database_url
    if not url.startswith("sqlite"):
        raise CliError("the database is PostgreSQL: back it up with pg_dump, e.g. "
                       "`pg_dump -Fc -f inbox.dump DBNAME` (docs/deploy.md#backups)")
    done = backup_sqlite(url, file)
    plural = "" if done.conversations == 1 else "s"
    typer.echo(f"backed up to {done.path}: {done.conversations} conversation{plural}, "
               f"schema {done.revision or 'none'}, {done.size / 1e6:.1f} MB")


@cli.command("systemd-unit")
@friendly
def systemd_unit(
        user: Annotated[str, typer.Option(help="The user the service runs as.")] = "inbox",
        env_file: Annotated[Path, typer.Option(
            help="Secrets for the service's environment (mode 0600).")] = Path(
                "/etc/inbox/inbox.env")) -> None:
    """Print a systemd unit that runs this deployment's daemon (docs/deploy.md)."""
    from inbox.runtime.service import systemd_unit as unit

    config = find_config(_state["config"], os.environ)
    if config is None:
        raise CliError("no inbox.toml here: run this in the deployment, or with --config")
    typer.echo(unit(load_settings(config), config, user, env_file), nl=False)


def main() -> None:
    cli()
