"""`inbox systemd-unit`: a systemd unit for this deployment, from inbox/runtime/inbox.service.in.

The unit is tailored, not generic: it runs the `inbox` of the virtualenv that printed it
(the absolute path, so no PATH is needed), in the deployment it was asked from, and lets
the service write only where this deployment keeps data (the deployment, and the
database and blobs folders when inbox.toml puts them elsewhere). The template is shipped
as package data so that a wheel installed anywhere can print it.
"""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path
from string import Template

from inbox.core.config import Settings

# Paths are written into the unit bare: systemd would read a space as a separator,
# and % and $ as specifiers and variables. A path outside this set is refused.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/@+-]*")
_HOMES = ("/home", "/root", "/run/user")
_TMP = ("/tmp/", "/var/tmp/")  # PrivateTmp=yes would give the service empty ones
RESTART_SEC = "5s"


class UnitError(ValueError):
    """The deployment cannot be described in a unit as it is; the message says why."""


def executable() -> list[str]:
    """How to start this installation's `inbox`: the script beside this Python (the
    venv's bin/), else this Python with -m. Symlinks are kept: a venv's python is one."""
    python = Path(sys.executable)
    script = python.parent / "inbox"
    return [str(script)] if script.is_file() else [str(python), "-m", "inbox"]


def systemd_unit(settings: Settings, config: Path, user: str, env_file: Path,
                 command: list[str] | None = None) -> str:
    """The unit's text for the deployment of `config` (whose `settings` these are)."""
    config = config.resolve()
    deployment = config.parent
    writable = _writable(settings, deployment)
    run = [*(command or executable()), "run"]
    paths = [deployment, config, env_file, *writable, *map(Path, run[:1])]
    for p in paths:
        if not p.is_absolute() or not _PLAIN_PATH.fullmatch(str(p)):
            raise UnitError(f"{p}: a unit needs absolute paths of letters, digits and "
                            "._/@+- only; move it, or edit the unit by hand")
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", user):
        raise UnitError(f"{user!r} is not a user name systemd accepts here")
    at_home = any(str(p).startswith(_HOMES) for p in paths)
    source = resources.files("inbox.runtime").joinpath("inbox.service.in").read_text()
    return Template(source).substitute(
        deployment=deployment, config=config, env_file=env_file, user=user, group=user,
        exec_start=" ".join(run), writable=" ".join(map(str, writable)),
        protect_home="read-only" if at_home else "yes", restart_sec=RESTART_SEC,
        private_tmp="no" if any(str(p).startswith(_TMP) for p in paths) else "yes")


def _writable(settings: Settings, deployment: Path) -> list[Path]:
    """The deployment, and where it keeps data outside itself (SQLite writes its -wal,
    -shm, lock and journal files beside the database, so its folder, not the file)."""
    places = [deployment, settings.path(settings.storage.blobs_dir).resolve()]
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        from inbox.store.rawdb import sqlite_path

        places.append(Path(sqlite_path(url)).resolve().parent)
    kept: list[Path] = []
    for p in places:
        if not any(p == k or p.is_relative_to(k) for k in kept):
            kept.append(p)
    return kept
