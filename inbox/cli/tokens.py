"""`inbox token ...`: tokens that let a program act as an agent over the HTTP API.

The token is printed once, by `create`, and never stored (inbox.desk.apitokens keeps a
hash); `list` shows each token's start, agent, state and last use; `revoke` stops one at
once. docs/api.md says how a program uses one.
"""

from __future__ import annotations

from typing import Annotated

import typer

from inbox.cli.agents import Who
from inbox.cli.common import JsonOpt, friendly, print_json, writing
from inbox.runtime.app import utcnow

token_cli = typer.Typer(help="API tokens: programs acting as an agent (docs/api.md).",
                        no_args_is_help=True)


@token_cli.command("create")
@friendly
def token_create(ctx: typer.Context, who: Who,
                 name: Annotated[str, typer.Option(
                     help="What uses it (the shop, a script): shown in lists.")] = "",
                 expires: Annotated[str, typer.Option(
                     help="How long it works: 90d, 12h, 2w, or never.")] = "90d",
                 as_json: JsonOpt = False) -> None:
    """A new token acting as this agent, with the agent's role. Shown once: keep it."""
    from inbox.desk import accounts, apitokens

    now = utcnow()
    with writing(ctx) as s:
        agent = accounts.find_agent(s, who)
        row, token = apitokens.create(s, agent, name, apitokens.parse_expiry(expires, now),
                                      now)
        until = row.expires_at.isoformat() if row.expires_at else None
        made = {"id": row.id, "token": token, "agent": agent.name, "name": row.name,
                "expires_at": until}
    if as_json:
        print_json(made)
        return
    typer.echo(token)  # alone on standard output: `TOKEN=$(inbox token create ...)`
    ends = (f"until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at
            else "until revoked")
    typer.echo(f"token {made['id']} acts as {agent.name} ({agent.role}), {ends}. It is "
               "shown only now: keep it where the program reads its secrets.", err=True)


@token_cli.command("list")
@friendly
def token_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every token: its start, agent, state and last use (never the token)."""
    from inbox.desk import apitokens

    with writing(ctx) as s:
        found = apitokens.rows(s, utcnow())
    if as_json:
        print_json(found)
        return
    for r in found:
        used = (r["last_used_at"] or "never used")[:16].replace("T", " ")
        typer.echo(f"{r['id']:>4} {r['prefix']}… {r['agent']:<16} {r['state']:<8} "
                   f"{used:<16} {r['name']}")
    if not found:
        typer.echo("no API tokens yet: `inbox token create AGENT --name WHAT`", err=True)


@token_cli.command("revoke")
@friendly
def token_revoke(ctx: typer.Context, token_id: Annotated[int, typer.Argument(
        help="The token's id (inbox token list).")]) -> None:
    """Stop a token at once."""
    from inbox.desk import apitokens

    with writing(ctx) as s:
        row = apitokens.revoke(s, token_id, utcnow())
        typer.echo(f"token {row.id} ({row.prefix}…) revoked")
