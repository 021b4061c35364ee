"""`inbox agent ...` and `inbox team ...`: the people who answer, and their teams.

Records in the database (inbox.desk.accounts; docs/agents.md). A password comes from
$INBOX_AGENT_PASSWORD or a hidden prompt asked twice, never from an option (options end
up in shell history and in `ps`). Disabling an agent or changing a password ends every
session the agent has.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from inbox.cli.common import CliError, JsonOpt, app_of, friendly, print_json, writing
from inbox.core.vocab import Role
from inbox.runtime.app import App, utcnow

if TYPE_CHECKING:
    pass

agent_cli = typer.Typer(help="Agents: who signs in to the desk, is assigned and notified.",
                        no_args_is_help=True)
team_cli = typer.Typer(help="Teams: agents in round-robin order.", no_args_is_help=True)
Who = Annotated[str, typer.Argument(help="The agent's name or e-mail.")]
PASSWORD_ENV = "INBOX_AGENT_PASSWORD"


def _password() -> str:
    """$INBOX_AGENT_PASSWORD, else asked twice without echo on a terminal."""
    from inbox.desk.accounts import check_password

    given = os.environ.get(PASSWORD_ENV)
    if given is None:
        if not sys.stdin.isatty():
            raise CliError(f"no password: set {PASSWORD_ENV} or run this in a terminal")
        given = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_password(given)  # before anything is written
    return given


@agent_cli.command("add")
@friendly
def agent_add(ctx: typer.Context,  # noqa: PLR0917 - typer maps each option to a parameter
              email: Annotated[str, typer.Argument(help="Signs in with this address.")],
              name: Annotated[str, typer.Option(
                  help="The name rules, `inbox assign` and --as use.")],
              role: Annotated[Role, typer.Option(help="What the agent may do.")] = Role.AGENT,
              team: Annotated[list[str], typer.Option(
                  help="A team to join (last in its round-robin order); repeatable.")
              ] = [],  # noqa: B006
              telegram: Annotated[str | None, typer.Option(
                  help="A Telegram chat id for notifications.")] = None) -> None:
    """Add an agent; the password from $INBOX_AGENT_PASSWORD or a prompt."""
    from inbox.desk import accounts

    password = _password()
    with writing(ctx) as s:
        agent = accounts.add_agent(s, email=email, name=name, role=role, password=password,
                                   now=utcnow(), teams=team, telegram=telegram)
        typer.echo(f"agent {agent.name} <{agent.email}> added as {agent.role}"
                   + (f" in {', '.join(team)}" if team else ""))
        if not team and role == Role.AGENT:  # what they will see, before they wonder
            typer.echo("in no team: sees only conversations of no team and those assigned "
                       "to them; add them to teams with `inbox team add-member`", err=True)


@agent_cli.command("list")
@friendly
def agent_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The agents, their roles and teams, and who can sign in."""
    from sqlalchemy.orm import Session

    from inbox.desk import accounts
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    with Session(app.engine) as s:
        rows = accounts.agent_rows(s)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = "" if r["enabled"] else " (disabled)"
        state += "" if r["can_sign_in"] or not r["enabled"] else " (no password yet)"
        typer.echo(f"{r['name']:<16} {r['role']:<10} {r['email'] or '-':<32} "
                   f"{','.join(r['teams']) or '-'}{state}")
    if not rows:
        typer.echo("no agents yet: add one with `inbox agent add EMAIL --name NAME`", err=True)


def _enable(ctx: typer.Context, who: str, enabled: bool) -> None:
    from inbox.desk import accounts

    with writing(ctx) as s:
        agent = accounts.find_agent(s, who)
        ended = accounts.set_enabled(s, agent, enabled, utcnow())
        typer.echo(f"agent {agent.name} {'enabled' if enabled else 'disabled'}"
                   + (f"; {ended} sessions ended" if ended else ""))


@agent_cli.command("language")
@friendly
def agent_language(ctx: typer.Context, who: Who,
                   language: Annotated[str, typer.Argument(
                       help="th, fa, pl, tl, vi, en... or `default`.")]) -> None:
    """The language an agent's notices (SLA, rules, escalations, mentions) come in."""
    from inbox.desk import accounts

    app = app_of(ctx)
    chosen = None if language.strip().lower() == "default" else language.strip().lower()
    with writing(ctx) as s:
        agent = accounts.find_agent(s, who)
        accounts.set_language(s, agent, chosen, app.settings.languages.serve)
        typer.echo(f"agent {agent.name}: notices in "
                   f"{chosen or app.settings.default_language + ' (the default)'}")


@agent_cli.command("disable")
@friendly
def agent_disable(ctx: typer.Context, who: Who) -> None:
    """Stop an agent signing in (ending every session) and getting new work."""
    _enable(ctx, who, False)


@agent_cli.command("enable")
@friendly
def agent_enable(ctx: typer.Context, who: Who) -> None:
    """Let a disabled agent sign in and get work again."""
    _enable(ctx, who, True)


@agent_cli.command("passwd")
@friendly
def agent_passwd(ctx: typer.Context, who: Who) -> None:
    """Set an agent's password (from $INBOX_AGENT_PASSWORD or a prompt); every session
    of the agent ends."""
    from inbox.desk import accounts

    password = _password()
    with writing(ctx) as s:
        agent = accounts.find_agent(s, who)
        ended = accounts.set_password(s, agent, password, utcnow())
        typer.echo(f"password of {agent.name} set" + (f"; {ended} sessions ended"
                                                       if ended else ""))


@team_cli.command("add")
@friendly
def team_add(ctx: typer.Context, name: str) -> None:
    """Add a team (then `inbox team add-member`)."""
    from inbox.desk import accounts

    with writing(ctx) as s:
        accounts.add_team(s, name, utcnow())
    typer.echo(f"team {name} added")


@team_cli.command("list")
@friendly
def team_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The teams and their agents, in round-robin order."""
    from sqlalchemy.orm import Session

    from inbox.desk import accounts
    from inbox.store.db import check_schema

    app = app_of(ctx)
    check_schema(app.engine)
    with Session(app.engine) as s:
        rows = accounts.team_rows(s)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']:<16} {', '.join(r['agents']) or '-'}")
    if not rows:
        typer.echo("no teams yet: add one with `inbox team add NAME`", err=True)


@team_cli.command("add-member")
@friendly
def team_add_member(ctx: typer.Context, team: str,
                    agents: Annotated[list[str], typer.Argument(
                        help="Names or e-mails, joining in this order.")]) -> None:
    """Put agents in a team, last in its round-robin order."""
    from inbox.desk import accounts

    with writing(ctx) as s:
        found = accounts.find_team(s, team)
        for who in agents:
            agent = accounts.find_agent(s, who)
            done = accounts.add_member(s, found, agent)
            typer.echo(f"{agent.name} {'joined' if done else 'is already in'} {team}")


@team_cli.command("remove-member")
@friendly
def team_remove_member(ctx: typer.Context, team: str,
                       agents: Annotated[list[str], typer.Argument(
                           help="Names or e-mails.")]) -> None:
    """Take agents out of a team."""
    from inbox.desk import accounts

    with writing(ctx) as s:
        found = accounts.find_team(s, team)
        for who in agents:
            agent = accounts.find_agent(s, who)
            done = accounts.remove_member(s, found, agent)
            typer.echo(f"{agent.name} {'left' if done else 'was not in'} {team}")


def adopt_config(app: App) -> None:
    """`inbox db upgrade`: copy the agents and teams inbox.toml names into records that
    do not exist yet, and say which (they sign in after `inbox agent passwd`)."""
    from sqlalchemy.orm import Session

    from inbox.desk import accounts

    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        agents, teams = accounts.adopt_settings(s, app.settings, utcnow())
    if agents:
        typer.echo(f"agents copied from inbox.toml: {', '.join(agents)} (they sign in "
                   "after `inbox agent passwd NAME`)")
    if teams:
        typer.echo(f"teams copied from inbox.toml: {', '.join(teams)}")
    if agents or teams:
        typer.echo("the records now count: edit them with `inbox agent` and `inbox team`, "
                   "and remove [agents] and [teams] from inbox.toml")
