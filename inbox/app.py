"""Wiring: settings in, engine + pipeline context + connectors out.

This is the one place where long-lived objects are built; everything else receives
them. The CLI and the daemon both start here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from inbox.blobs import BlobStore
from inbox.config import Settings

if TYPE_CHECKING:  # imported where used: every CLI command starts here, most need few
    from sqlalchemy.engine import Engine

    from inbox.pipeline import PipelineContext
    from inbox.render import Renderer
    from inbox.routing import Router
    from inbox.sla import Policies


def utcnow() -> datetime:
    """The daemon's clock; everything below it takes `now` as an argument."""
    return datetime.now(UTC)


class SecretMissing(Exception):
    pass


@dataclass
class App:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        from inbox.db import make_engine  # SQLAlchemy costs 0.15 s to load: only if used

        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.path(self.settings.storage.blobs_dir))

    @cached_property
    def renderer(self) -> Renderer:
        from inbox.render import Renderer

        return Renderer(self.settings.path(self.settings.templates_dir))

    @cached_property
    def router(self) -> Router:
        """The rules of rules_dir, reloaded when they change (the last good set is kept).

        Broken rules at start raise RulesError (a ConfigError): there is nothing to keep.
        """
        from inbox.rules import Known, LiveRules

        s = self.settings
        return LiveRules(s.path(s.rules_dir), Known.from_settings(s),
                         budget=s.rules_time_budget, templates=s.path(s.templates_dir))

    @cached_property
    def sla(self) -> Policies:
        """SLA policies by name and priority, with their calendars (inbox.sla)."""
        from inbox.sla import Policies

        return Policies.from_settings(self.settings)

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
        from inbox.pipeline import PipelineContext

        return PipelineContext(
            secret=self.secret, renderer=self.renderer, router=self.router,
            blobs=self.blobs, sla=self.sla, ack=s.ack,
            team_name=s.name, our_addresses=frozenset(a.lower() for a in s.addresses),
            our_domain=s.domain, max_attachment_bytes=s.storage.max_attachment_bytes,
            send_acks=send_acks, staff=self.settings.staff_addresses(),
            repeat_window=timedelta(minutes=s.threading.repeat_window_minutes),
        )
