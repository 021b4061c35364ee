"""`inbox contact ...`: the people who write to us, and merging two records of one person.

Ingest makes a contact for each new (channel, address); `inbox contact merge KEEP OTHER`
says that two of them are one person (inbox.desk.contacts). `show` prints the read model
the HTTP API serves (inbox.desk.views.contact); --json prints it as docs/cli-json.md says.
"""

from __future__ import annotations

import os
import zoneinfo
from typing import TYPE_CHECKING, Annotated

import typer

from inbox.cli.common import JsonOpt, app_of, friendly, print_json, writing
from inbox.runtime.app import utcnow

if TYPE_CHECKING:
    from inbox.desk.views import JSON
    from inbox.runtime.app import App

contact_cli = typer.Typer(help="Contacts: the people who write, on every channel.",
                          no_args_is_help=True)
ContactId = Annotated[int, typer.Argument(
    metavar="ID", help="The contact's id (`inbox show ID --json` has it under contact.id).")]
AsOpt = Annotated[str | None, typer.Option(
    "--as", envvar="INBOX_AGENT", show_envvar=True,
    help="The agent doing this: an agent's name (`inbox agent list`).")]


@contact_cli.command("show")
@friendly
def contact_show(ctx: typer.Context, contact_id: ContactId, as_json: JsonOpt = False) -> None:
    """A contact: name, preferred language, every address and every conversation."""
    from sqlalchemy.orm import Session

    from inbox.core.vocab import ID_MAX
    from inbox.desk import views
    from inbox.desk.contacts import NoContact
    from inbox.store.db import check_schema, reader

    app = app_of(ctx)
    check_schema(app.engine)
    found = None
    if 0 < contact_id <= ID_MAX:  # PostgreSQL refuses a larger id outright
        with Session(reader(app.engine)) as s:
            found = views.contact(s, contact_id, None)
    if found is None:
        raise NoContact(f"no contact {contact_id}")
    _show(app, found, as_json)


@contact_cli.command("merge")
@friendly
def contact_merge(ctx: typer.Context,
                  keep: Annotated[int, typer.Argument(
                      metavar="KEEP", help="The contact that stays (its id).")],
                  other: Annotated[int, typer.Argument(
                      metavar="OTHER", help="The same person's other contact: merged "
                                            "into KEEP, then deleted.")],
                  author: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Merge contact OTHER into KEEP: they are one person. Cannot be undone.

    OTHER's addresses and conversations move to KEEP and OTHER is deleted. KEEP's name
    and language stay unless it has none; an agent's language choice on either wins."""
    from inbox.desk import contacts, views

    app = app_of(ctx)
    by = _by(app, author)
    with writing(ctx) as s:
        merged = contacts.merge(s, keep, other, by=by, now=utcnow())
        found = views.contact(s, keep, None)
    assert found is not None  # without a scope, an existing contact is always shown
    if not as_json:
        typer.echo(f"contact {other} merged into {keep}: "
                   f"{_count(merged['identities'], 'address')} and "
                   f"{_count(merged['conversations'], 'conversation')} moved\n")
    _show(app, {**found, "merged": merged}, as_json)


def _by(app: App, given: str | None) -> str:
    """The agent --as (or $INBOX_AGENT) names, refused unless the directory knows them;
    else the login name, as `inbox assign` records it."""
    if not given:
        return os.environ.get("USER", "cli")
    from inbox.core.directory import require_agent

    return require_agent(app.directory, given).name


def _count(items: list[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 'es' if noun.endswith('s') else 's'}"


def _show(app: App, contact: JSON, as_json: bool) -> None:
    if as_json:
        print_json(contact)
        return
    from inbox.cli.render import contact_lines

    zone = zoneinfo.ZoneInfo(app.settings.business_hours.timezone)
    typer.echo("\n".join(contact_lines(contact, zone)))
