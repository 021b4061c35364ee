"""Wiring: settings in; engine, blob store, renderer, rules, SLA policies, directory,
pipeline context, connectors, notifiers (SLA, escalations) and dispatcher out.

This is the one place where long-lived objects are built; everything else receives
them. The CLI and the daemon both start here.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from inbox.core.config import ConfigError, Settings
from inbox.core.errors import Invalid
from inbox.store.blobs import BlobStore

if TYPE_CHECKING:  # imported where used: every CLI command starts here, most need few
    from sqlalchemy.engine import Engine
    from starlette.applications import Starlette

    from channels.base import Connector, Inbound, TextLimit
    from inbox.core.directory import Directory
    from inbox.core.routing import Router
    from inbox.csat.surveys import Asking
    from inbox.desk.escalation import Teller
    from inbox.desk.mentions import Mentioner
    from inbox.ingest.work import PipelineContext
    from inbox.lang.detect import Detector
    from inbox.lang.render import Renderer
    from inbox.outbox.dispatcher import AccountKey, Dispatcher
    from inbox.sla.clock import Policies
    from inbox.sla.notify import Notifier
    from inbox.web.events import ChangeFeed


# Channels where an acknowledgement is a post others may read (inbox.ingest.work
# PipelineContext.public_accounts): it never carries a reference token.
PUBLIC = frozenset({"mastodon", "bluesky"})


def utcnow() -> datetime:
    """The daemon's clock; everything below it takes `now` as an argument."""
    return datetime.now(UTC)


class SecretMissing(Invalid):
    pass


class TextLimits(Mapping["AccountKey", "TextLimit"]):
    """What one message may hold on each account whose connector declares a limit, as
    it declares it now: a connector learns its server's limit once it has started, after
    the desk was built."""

    def __init__(self, connectors: Mapping[AccountKey, Connector]) -> None:
        from channels.base import Limited

        self._limited = {key: c for key, c in connectors.items() if isinstance(c, Limited)}

    def __getitem__(self, key: AccountKey) -> TextLimit:
        limit = self._limited[key].text_limit
        if limit is None:
            raise KeyError(key)
        return limit

    def __iter__(self) -> Iterator[AccountKey]:
        return (key for key, c in self._limited.items() if c.text_limit is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class App:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        from inbox.store.db import make_engine  # SQLAlchemy costs 0.15 s to load: only if used

        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.path(self.settings.storage.blobs_dir))

    @cached_property
    def renderer(self) -> Renderer:
        from inbox.lang.render import Renderer

        return Renderer(self.settings.path(self.settings.templates_dir))

    @cached_property
    def detector(self) -> Detector:
        """The language detector; its model is loaded at the first message, once per
        process (~0.6 s, ~90 MB). A code it does not know is refused here, at start."""
        from inbox.lang.detect import Detector

        s = self.settings.languages
        try:
            return Detector(s.serve, s.threshold)
        except ValueError as exc:  # a code the model does not know
            raise ConfigError(f"languages.serve: {exc}") from None

    @cached_property
    def directory(self) -> Directory:
        """The agents and teams: the one list rules, commands and notifications ask.
        The records (inbox.desk.accounts), read again every few seconds, with what only
        inbox.toml names; the config alone while there is no database to read."""
        from inbox.core.directory import LiveDirectory, SettingsDirectory

        config = SettingsDirectory.from_settings(self.settings)
        if not self.has_database():
            return config
        return LiveDirectory(lambda: self._records(config))

    def _records(self, config: Directory) -> Directory:
        from inbox.core.directory import merged
        from inbox.desk.accounts import read_directory
        from inbox.store.rawdb import reading

        with reading(self.settings.resolved_database_url) as reader:
            return merged(read_directory(reader), config)

    def has_database(self) -> bool:
        """Whether the database is there, at this version's schema: `inbox rules check`
        works from inbox.toml alone where it is not (a CI job without one). Asked with
        the plain driver, which neither makes a missing SQLite file nor waits for the
        write lock a caller's transaction may hold."""
        from inbox.store.migrations import SchemaError
        from inbox.store.rawdb import ReadError, reading

        try:
            with reading(self.settings.resolved_database_url) as reader:
                reader.check_schema()
        except (SchemaError, ReadError):
            return False
        return True

    @cached_property
    def router(self) -> Router:
        """The rules of rules_dir, reloaded when they change (the last good set is kept).

        Broken rules at start raise RulesError (a ConfigError): there is nothing to keep.
        """
        from inbox.rules import Known, LiveRules

        s = self.settings
        return LiveRules(s.path(s.rules_dir), Known.from_settings(s, self.directory),
                         budget=s.rules_time_budget, templates=s.path(s.templates_dir),
                         names=self.directory)

    @cached_property
    def sla(self) -> Policies:
        """SLA policies by name and priority, with their calendars (inbox.sla.clock)."""
        from inbox.sla.clock import Policies

        return Policies.from_settings(self.settings)

    @cached_property
    def connectors(self) -> dict[AccountKey, Connector]:
        """One connector per `[channels.<channel>.<account>]`, sharing the blob store."""
        from inbox.runtime.connectors import build_connectors

        return build_connectors(self.settings, self.blobs)

    @cached_property
    def notifier(self) -> Notifier:
        """Who hears of an SLA at risk or breached; unknown names raise ConfigError."""
        from inbox.sla.notify import Notifier

        return Notifier(self.settings, self.renderer, self.secret, self.directory)

    @cached_property
    def escalations(self) -> Teller:
        """Who hears of an escalation, and in which words (inbox.desk.escalation)."""
        from inbox.desk.escalation import Teller

        return Teller(self.settings, self.renderer, self.secret)

    @cached_property
    def mentions(self) -> Mentioner:
        """Who hears of a note that mentions them (inbox.desk.mentions)."""
        from inbox.desk.mentions import Mentioner

        return Mentioner(self.settings, self.renderer, self.secret)

    @cached_property
    def asking(self) -> Asking:
        """What sending customers' surveys needs (inbox.csat)."""
        from inbox.csat.surveys import Asking

        s = self.settings
        return Asking(s.csat, self.renderer, self.secret, s.domain, s.web.public_url,
                      self._account_names(), s.default_language)

    def dispatcher(self, connectors: Mapping[AccountKey, Connector]) -> Dispatcher:
        """The outbox dispatcher sending through `connectors` (a daemon's, or a test's)."""
        from inbox.outbox.dispatcher import Dispatcher

        return Dispatcher(self.engine, connectors, self.settings.outbox, utcnow)

    def desk(self, connectors: Mapping[AccountKey, Connector],
             accept: Callable[[Inbound], Mapping[str, object]] | None = None) -> Starlette:
        """The desk's web app, with the webhook endpoints of `connectors` mounted in it;
        ConfigError for a path two of them share or the desk uses."""
        from channels.base import ASGIApp, WebhookReceiver
        from inbox.web.app import create_app
        from inbox.web.context import WebContext

        hooks: dict[str, ASGIApp] = {}
        for (channel, account), c in connectors.items():
            offered = c.webhooks() if isinstance(c, WebhookReceiver) else {}
            for path, endpoint in offered.items():
                if path in hooks:
                    raise ConfigError(f"[channels.{channel}.{account}]: another account's "
                                      f"webhook has the path {path} already")
                hooks[path] = endpoint
        if hooks and not self.settings.web.enabled:
            raise ConfigError("a webhook is served on the desk's address: set [web] "
                              "enabled = true (docs/desk.md)")
        try:
            return create_app(WebContext(name=self.settings.name, engine=self.engine,
                                         secret=self.secret, web=self.settings.web,
                                         clock=utcnow, text_limits=TextLimits(connectors),
                                         accept=accept,
                                         **self._desk_parts()), hooks)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def _desk_parts(self) -> dict[str, Any]:
        """What the queue and conversation pages need (inbox.web.app.WebContext)."""
        from inbox.runtime.connectors import raw_parsers

        s = self.settings
        return {"domain": s.domain, "zone": s.business_hours.timezone, "policies": self.sla,
                "directory": self.directory, "blobs": self.blobs, "parsers": raw_parsers(),
                "channels": tuple(sorted(s.channels)), "feed": self.feed,
                "our_addresses": self.our_addresses(),
                "escalations": self.escalations, "mentions": self.mentions,
                "languages": tuple(s.languages.serve),
                "api_systems": frozenset(s.channels.get("api", {})), "csat": s.csat,
                "report_zone": s.report_zone}

    def our_addresses(self) -> frozenset[str]:
        """Our own e-mail addresses: `addresses` and every e-mail account's address."""
        s = self.settings
        accounts = [str(o.get("address", "")) for o in s.channels.get("email", {}).values()]
        return frozenset(a.lower() for a in (*s.addresses, *accounts) if a)

    @cached_property
    def feed(self) -> ChangeFeed:
        """What changed, for the desk's open screens: one watcher per daemon."""
        from functools import partial

        from inbox.store.rawdb import reading
        from inbox.web.events import PollingFeed

        return PollingFeed(partial(reading, self.settings.resolved_database_url), clock=utcnow)

    def close(self) -> None:
        if "engine" in self.__dict__:  # only if it was ever built
            self.engine.dispose()

    @property
    def secret(self) -> str:
        if not self.settings.secret_key:
            raise SecretMissing(
                "no secret key: set INBOX_SECRET_KEY, INBOX_SECRET_KEY_FILE or "
                "secret_key_file in inbox.toml (`inbox init` makes one)")
        return self.settings.secret_key

    def pipeline_context(self, send_acks: bool = True) -> PipelineContext:
        s = self.settings
        from inbox.core.directory import staff_addresses
        from inbox.ingest.work import PipelineContext
        from inbox.runtime.connectors import raw_parsers

        return PipelineContext(
            secret=self.secret, renderer=self.renderer, router=self.router,
            blobs=self.blobs, sla=self.sla, ack=s.ack,
            team_name=s.name, account_names=self._account_names(),
            our_addresses=frozenset(a.lower() for a in s.addresses),
            our_domain=s.domain, max_attachment_bytes=s.storage.max_attachment_bytes,
            send_acks=send_acks, staff=staff_addresses(self.directory),
            repeat_window=timedelta(minutes=s.threading.repeat_window_minutes),
            parsers=raw_parsers(),
            public_accounts=frozenset(k for k in self._account_names() if k[0] in PUBLIC),
            quiet_accounts=frozenset(
                (channel, account) for channel, accounts in s.channels.items()
                for account, options in accounts.items()
                if options.get("public_ack") is False),
            detector=self.detector, languages=frozenset(s.languages.serve),
            default_language=s.default_language,
            learn_after=s.languages.learn_after,
            zone=zoneinfo.ZoneInfo(s.business_hours.timezone),
        )

    def _account_names(self) -> dict[tuple[str, str], str]:
        s = self.settings
        return {(channel, account): s.account_name(channel, account)
                for channel, accounts in s.channels.items() for account in accounts}
