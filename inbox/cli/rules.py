"""`inbox rules ...`: check, explain, test and replay the routing rules.

Nothing here changes the database: `explain` and `replay` only read stored messages.
`--rules DIR` points any command at another rule folder (a candidate set under review)
instead of the deployment's `rules_dir`. Errors are one line per problem (file:line)
and exit code 1; a failing `test` exits 1 as well, so rules can be put under CI.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inbox.cli.common import CliError, friendly, opened
from inbox.core.config import Settings, find_config, load_settings

if TYPE_CHECKING:  # the rest is imported by the command that needs it: a quick start
    from channels.base import Inbound
    from inbox.core.routing import RouteFacts
    from inbox.rules import Explanation, RuleSet
    from inbox.rules.replay import Change


rules_cli = typer.Typer(help="Routing rules: check, explain, test, replay.",
                        no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RulesOpt = Annotated[Path | None, typer.Option(
    "--rules", help="Rule folder to use instead of the deployment's rules_dir.")]


def _settings(ctx: typer.Context) -> Settings:
    config = ctx.find_root().params.get("config")
    return load_settings(find_config(config, os.environ))


def _rules(settings: Settings, directory: Path | None) -> tuple[RuleSet, Path]:
    from inbox.rules import Known, load_rules
    from inbox.runtime.app import App

    where = directory or settings.path(settings.rules_dir)
    names = opened(App(settings)).directory  # the records, if there is a database
    return load_rules(where, Known.from_settings(settings, names),
                      budget=settings.rules_time_budget), where


def _email(raw: bytes, account: str, received_at: datetime) -> Inbound:
    """Test cases and `explain FILE.eml` read e-mail with the e-mail channel's parser."""
    from inbox.runtime.connectors import raw_parser

    parse = raw_parser("email")
    assert parse is not None
    return parse(raw, account, received_at)


def _json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@rules_cli.command()
@friendly
def check(ctx: typer.Context, rules: RulesOpt = None,
          strict: Annotated[bool, typer.Option(
              "--strict", help="Exit 1 on warnings too (a regex that can backtrack).")]
          = False) -> None:
    """Validate the rules (and rules/tests): unknown keys, bad regexes, unknown names;
    warn about regexes that can backtrack without end."""
    from inbox.rules.cases import load_cases

    settings = _settings(ctx)
    ruleset, where = _rules(settings, rules)
    cases = load_cases(where / "tests", _email) if (where / "tests").is_dir() else []
    for w in ruleset.warnings:
        typer.echo(f"{w.path}:{w.line}: warning: {w.message}", err=True)
    typer.echo(f"{where}: {len(ruleset.rules)} rules in {ruleset.files} files are valid"
               + (f"; {len(cases)} test cases read" if cases else ""))
    if strict and ruleset.warnings:
        count = len(ruleset.warnings)
        raise CliError(f"{count} warning{'s' if count > 1 else ''} (--strict)")


@rules_cli.command()
@friendly
def explain(ctx: typer.Context,  # noqa: PLR0917 - typer maps each option to a parameter
            file: Annotated[Path | None, typer.Argument(help="An .eml file.")] = None,
            message: Annotated[int | None, typer.Option(
                "--message", help="A stored message's id.")] = None,
            text: Annotated[str | None, typer.Option(help="A message body to try.")] = None,
            subject: Annotated[str, typer.Option(help="With --text.")] = "",
            sender: Annotated[str, typer.Option("--from", help="With --text.")] =
            "customer@example.com",
            channel: Annotated[str, typer.Option(help="With --text or FILE.")] = "email",
            account: Annotated[str, typer.Option(help="With --text or FILE.")] = "support",
            follow_up: Annotated[bool, typer.Option(
                help="Treat it as a follow-up, not a first message.")] = False,
            vip: Annotated[bool, typer.Option(help="The contact is a VIP.")] = False,
            tag: Annotated[list[str] | None, typer.Option(help="A contact tag.")] = None,
            open_conversations: Annotated[int, typer.Option(
                "--open", help="Other open conversations of the contact.")] = 0,
            language: Annotated[str | None, typer.Option(
                help="The language as if the pipeline had resolved it (`unknown`: it "
                     "could not tell).")] = None,
            at: Annotated[str | None, typer.Option(
                help="When it arrived (ISO time; default now).")] = None,
            rules: RulesOpt = None, as_json: JsonOpt = False) -> None:
    """Show every rule, whether it matched and why, and the outcome; changes nothing."""
    from channels.base import Address, Inbound
    from inbox.core.routing import RouteFacts
    from inbox.runtime.app import utcnow

    if sum(x is not None for x in (file, message, text)) != 1:
        raise CliError("give one of: FILE.eml, --message ID, --text TEXT")
    settings = _settings(ctx)
    ruleset, _ = _rules(settings, rules)
    when = datetime.fromisoformat(at) if at else utcnow()
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    facts = RouteFacts(first_message=not follow_up, contact_tags=tuple(tag or ()),
                       contact_vip=vip, open_conversations=open_conversations,
                       **_language_facts(language))
    if message is not None:
        _explain_stored(settings, ruleset, message, as_json)
        return
    if file is not None:
        inbound = _email(file.read_bytes(), account, when)
        inbound = replace(inbound, channel=channel)
    else:
        inbound = Inbound(channel=channel, account=account, external_id="explain",
                          sender=Address(sender.lower()), received_at=when,
                          subject=subject, text=text or "")
    _show(inbound, facts, ruleset.explain(inbound, facts), as_json)


def _language_facts(language: str | None) -> dict[str, Any]:
    if language is None:
        return {}
    if language.lower() == "unknown":
        return {"language": None, "language_source": "default"}
    return {"language": language, "language_source": "given"}


def _explain_stored(settings: Settings, ruleset: RuleSet, message_id: int,
                    as_json: bool) -> None:
    from sqlalchemy.orm import Session

    from inbox.rules.replay import load_stored
    from inbox.runtime.app import App
    from inbox.store.db import check_schema

    app = App(settings)
    try:
        check_schema(app.engine)
        with Session(app.engine) as s:
            found = load_stored(s, [message_id])
            if not found:
                raise CliError(f"no customer message {message_id}")
            stored = found[0]
            explained = ruleset.explain(stored.inbound, stored.facts)
            _show(stored.inbound, stored.facts, explained, as_json, then=stored.then)
    finally:
        app.close()


def _show(inbound: Inbound, facts: RouteFacts, e: Explanation, as_json: bool,
          then: dict[str, Any] | None = None) -> None:
    outcome = e.decision.summary()
    over = e.decision.over_budget
    if as_json:
        _json({"rules": [{"rule": r.rule.name, "source": r.rule.source,
                          "matched": r.matched, "why": r.why, "then": list(r.actions)}
                         for r in e.reports],
               "outcome": outcome, "set_by": e.set_by,
               "over_budget": {"rule": over.rule, "source": over.source, "why": over.why}
               if over else None,
               "language": e.language[0], "language_guessed": e.language[1] == "script",
               "language_source": e.language[1] or None,
               **({"then_stored": then} if then is not None else {})})
        return
    kind = "first message" if facts.first_message else "follow-up"
    typer.echo(f"message: {inbound.channel}/{inbound.account} from "
               f"{inbound.sender.address or '?'}, subject {inbound.subject or ''!r}, {kind}")
    from inbox.rules.conditions import language_source

    lang, source = e.language
    typer.echo(f"language: {lang or 'unknown'}{language_source(source) if lang else ''}")
    typer.echo("")
    for r in e.reports:
        mark = {True: "MATCH", False: "no", None: "--"}[r.matched]
        typer.echo(f"  {mark:<5}  {r.rule.source}  {r.rule.name}")
        typer.echo(f"         {'because' if r.matched else 'why'}: {r.why}")
        if r.actions:
            typer.echo(f"         then: {'; '.join(r.actions)}")
    if not e.reports:
        typer.echo("  (no rules)")
    typer.echo("\noutcome:")
    for line in _outcome_lines(outcome, e.set_by):
        typer.echo(f"  {line}")
    if over:
        typer.echo(f"\nout of time: {over.source}  {over.rule}: {over.why}")
    if then is not None and then != outcome:
        changed = [k for k in outcome if outcome[k] != then.get(k)]
        typer.echo("\nwhen it arrived the rules decided differently: "
                   + "; ".join(f"{k} {_v(then.get(k))} -> {_v(outcome[k])}" for k in changed))
    typer.echo("\n(nothing was changed)")


def _outcome_lines(o: dict[str, Any], set_by: dict[str, str]) -> list[str]:
    tags = [f"+{t}" for t in o["add_tags"]] + [f"-{t}" for t in o["remove_tags"]]
    rows = [("team", o["team"], "team"), ("assign", o["assign"], "assign"),
            ("priority", o["priority"], "priority"), ("tags", " ".join(tags), None),
            ("sla", o["sla_policy"] or "default", "sla"), ("ack", o["ack"], "ack"),
            ("spam", "yes" if o["spam"] else "no", "spam"),
            ("notify", ", ".join(o["notify"]), None)]
    out = []
    for label, value, key in rows:
        by = set_by.get(key) if key else None
        out.append(f"{label:<10}{value or '-'}" + (f"   (rule {by!r})" if by else ""))
    return out


def _v(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "-" if value is None else str(value)


@rules_cli.command("test")
@friendly
def test_(ctx: typer.Context, rules: RulesOpt = None, as_json: JsonOpt = False) -> None:
    """Run rules/tests/*.yaml: each example message must get its expected outcome."""
    from inbox.rules.cases import load_cases, run_case

    settings = _settings(ctx)
    ruleset, where = _rules(settings, rules)
    tests = where / "tests"
    cases = load_cases(tests, _email) if tests.is_dir() else []
    results = [run_case(ruleset, c) for c in cases]
    failed = [r for r in results if not r.ok]
    if as_json:
        _json([{"name": r.case.name, "source": r.case.source, "ok": r.ok,
                "failures": list(r.failures)} for r in results])
    else:
        for r in results:
            typer.echo(f"{'ok' if r.ok else 'FAIL':<5} {r.case.source}  {r.case.name}")
            for f in r.failures:
                typer.echo(f"        {f}")
        typer.echo(f"\n{len(results) - len(failed)} passed, {len(failed)} failed"
                   + ("" if cases else f" (no test cases in {tests})"))
    if failed:
        raise typer.Exit(1)


@rules_cli.command("replay")
@friendly
def replay_(ctx: typer.Context,
            since: Annotated[str, typer.Option(help="7d, 12h, 2w or a date.")] = "7d",
            limit: Annotated[int, typer.Option(help="Changes to list at most.")] = 50,
            rules: RulesOpt = None, as_json: JsonOpt = False) -> None:
    """What the current (or --rules) rule set would do differently to recent messages."""
    from sqlalchemy.orm import Session

    from inbox.rules.replay import parse_since, replay
    from inbox.runtime.app import App, utcnow
    from inbox.store.db import check_schema

    settings = _settings(ctx)
    ruleset, where = _rules(settings, rules)
    start = parse_since(since, utcnow())
    app = App(settings)
    try:
        check_schema(app.engine)
        with Session(app.engine) as s:
            seen, changes = replay(s, ruleset, start)
    finally:
        app.close()
    if as_json:
        _json({"replayed": seen, "since": start.isoformat(), "changed": len(changes),
               "changes": [_change_json(c) for c in changes[:limit]]})
        return
    typer.echo(f"replayed {seen} messages since {start:%Y-%m-%d %H:%M} through {where}: "
               f"{len(changes)} would be routed differently")
    for c in changes[:limit]:
        st = c.stored
        typer.echo(f"  #{st.conversation_id} message {st.message_id}  "
                   f"{st.inbound.received_at:%Y-%m-%d %H:%M}  {st.inbound.sender.address}  "
                   f"{(st.inbound.subject or '')[:50]!r}")
        typer.echo("      " + "; ".join(f"{k}: {_v(st.then.get(k))} -> {_v(c.now[k])}"
                                        for k in c.fields))
    if len(changes) > limit:
        typer.echo(f"  ... and {len(changes) - limit} more (--limit)")


def _change_json(c: Change) -> dict[str, Any]:
    return {"message_id": c.stored.message_id, "conversation_id": c.stored.conversation_id,
            "fields": c.fields, "then": c.stored.then, "now": c.now}
