"""`inbox init DIR`: a deployment that works offline at once.

It copies the shipped templates/ and rules/ (the admin's to edit from then on), writes a
commented inbox.toml, and makes a random secret key readable by its owner only; the
key signs conversation references and never enters inbox.toml or the repository.
"""

from __future__ import annotations

import secrets
import shutil
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from inbox.config import CONFIG_NAME, ConfigError

CONFIG_TEMPLATE = """\
# inbox configuration. Secrets do not belong here: use the environment
# (INBOX_SECRET_KEY, INBOX_DATABASE_URL, channel passwords) or files named below.

name = "Support"                  # how acknowledgements sign off
addresses = []                    # our own addresses: never acknowledged (loop protection)
domain = "inbox.invalid"          # domain of the Message-IDs we generate; set it to yours
database_url = "sqlite:///inbox.db"   # or postgresql://user@host/db (INBOX_DATABASE_URL)
secret_key_file = "secret.key"    # signs conversation references; keep it private
templates_dir = "templates"
rules_dir = "rules"

[ack]
enabled = true
per_sender_daily_cap = 3          # at most this many acknowledgements per sender per day
default_language = "en"

[sla]
first_response_hours = 24
next_response_hours = 24
warn_before_hours = 4

[outbox]
max_attempts = 10                 # then the send is dead-lettered (see `inbox outbox`)
backoff_base_seconds = 15
backoff_cap_seconds = 3600

[storage]
blobs_dir = "blobs"               # raw messages and attachments, by SHA-256
max_attachment_bytes = 26214400

# Channels come in their own sections, e.g. [channels.email.support]; see docs/.
"""


def _shipped(name: str) -> Traversable:
    """The default templates/ or rules/: inside the wheel, or beside a source checkout."""
    try:
        return resources.files(f"inbox._defaults.{name}")
    except ModuleNotFoundError:
        return resources.files("inbox").joinpath("..", name)


def _copy_tree(src: Traversable, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name.startswith(("__", ".")):
            continue
        target = dest / item.name
        if item.is_dir():
            _copy_tree(item, target)
        elif not target.exists():  # never clobber an admin's edits
            with resources.as_file(item) as path:
                shutil.copyfile(path, target)


def init_deployment(directory: Path, force: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / CONFIG_NAME
    if config.exists() and not force:
        raise ConfigError(f"{config} exists already (use --force to overwrite it)")
    config.write_text(CONFIG_TEMPLATE)
    for name in ("templates", "rules"):
        _copy_tree(_shipped(name), directory / name)
    key = directory / "secret.key"
    if not key.exists():
        key.touch(mode=0o600)
        key.write_text(secrets.token_urlsafe(32) + "\n")
    return config
