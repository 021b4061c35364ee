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

from inbox.core.config import CONFIG_NAME, ConfigError

CONFIG_TEMPLATE = """\
# inbox configuration. Secrets do not belong here: use the environment
# (INBOX_SECRET_KEY, INBOX_DATABASE_URL, channel passwords) or files named below.

name = "Support"                  # how acknowledgements sign off, unless the account
                                  # has a name of its own ([channels.email.X] name)
addresses = []                    # our own addresses: never acknowledged (loop protection)
domain = "inbox.invalid"          # domain of the Message-IDs we generate; set it to yours
database_url = "sqlite:///inbox.db"   # or postgresql://user@host/db (INBOX_DATABASE_URL)
secret_key_file = "secret.key"    # signs conversation references; keep it private
templates_dir = "templates"
rules_dir = "rules"
rules_time_budget = 0.5           # CPU seconds all rules' regexes may take per message
log_level = "INFO"                # INBOX_LOG_LEVEL wins; DEBUG shows customer data
log_format = "text"               # or "json", one object per line (docs/logging.md);
                                  # INBOX_LOG_FORMAT and `inbox run --log-format` win

[ack]
enabled = true
per_sender_daily_cap = 3          # at most this many acknowledgements per sender per day

# The languages customers are answered in (docs/languages.md): a message's language is
# detected among `serve`; below `threshold` the contact's history, the channel's hint
# or `default` decide. Agents can change it per conversation or per contact.
[languages]
serve = ["th", "fa", "pl", "tl", "vi", "en"]
default = "en"
threshold = 0.8
learn_after = 3                   # confident detections in a row make it the contact's

# The promise to customers (docs/sla.md). An acknowledgement is not an answer.
[sla]
first_response_hours = 24         # to the first answer from a person
next_response_hours = 24          # to each answer after the customer writes again
warn_before_hours = 4             # "at risk" this long before the answer is due
business_hours = false            # true: count only [business_hours] below
notify = ["owner"]                # who hears of at-risk and breached conversations:
                                  # owner (the assignee, else the team), assignee, team,
                                  # an agent, an e-mail address, telegram:CHAT_ID

# Per priority (low, normal, high, urgent); unset numbers are the above.
# [sla.priorities.urgent]
# first_response_hours = 2
# next_response_hours = 2
# warn_before_hours = 0.5

# Named SLA policies that rules may choose (`sla: vip`); they override the priority's.
[sla.policies.vip]
first_response_hours = 4
warn_before_hours = 1

# When the team works: rules' `business_hours` and `time` conditions and SLA policies
# with `business_hours = true` use it; `inbox sla --at` reads times in this zone.
[business_hours]
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "09:00-17:00"
holidays = []                     # e.g. [2026-12-25, 2027-01-01]

# Teams and agents: the names rules, `inbox assign` and `inbox reply --as` accept
# (`inbox rules check` rejects others). They are records in the database: `inbox agent
# add`, `inbox team add` (docs/agents.md). Those named here are read too, a record of
# the same name winning, and `inbox db upgrade` copies them into records.
# Everyone listed in a team is an agent, in round-robin order; `away = true` is skipped.
[teams.support]
agents = []
[teams.billing]
agents = []
[teams.tech]
agents = []

# [agents.ana]                    # `inbox reply --as ana` (or INBOX_AGENT=ana)
# email = "ana@example.com"       # where rules' `notify: {to: ana, ...}` send
# telegram = "123456789"          # a chat id, if notifications go through the bot

[outbox]
max_attempts = 10                 # then the send is dead-lettered (see `inbox outbox`)
backoff_base_seconds = 15
backoff_cap_seconds = 3600
probe_seconds = 5                 # a channel that is down is tried this often

# Reports (docs/reports.md): the zone of their days ("" = [business_hours]'s), and the
# weekly digest e-mailed to supervisors and admins with an address, in their language.
[reports]
timezone = ""
digest = true
digest_day = "mon"
digest_hour = 8                   # local time, in the reports' zone

# The agents' desk in the browser (docs/desk.md): sign-in at /login, the queue at /.
# Plain HTTP: to reach it from other machines, put a TLS proxy in front (docs/desk.md).
[web]
enabled = true
listen = "127.0.0.1:8025"         # host:port; Telegram webhooks are served here too
# public_url = "https://help.example.com"   # where agents open it: notifications link here

[storage]
blobs_dir = "blobs"               # raw messages and attachments, by SHA-256
max_attachment_bytes = 26214400

# Channels come in their own sections, e.g. [channels.email.support]; see docs/.
# A Telegram bot (docs/telegram.md); the token stays out of this file:
# [channels.telegram.support]
# token_env = "TELEGRAM_SUPPORT_TOKEN"   # or token_file = "telegram-support.token"
# Mentions of a Mastodon account (docs/mastodon.md); the token stays out of this file too:
# [channels.mastodon.support]
# api_base_url = "https://social.example"
# access_token_env = "MASTODON_SUPPORT_TOKEN"   # or access_token_file = "mastodon-support.token"
# A Bluesky account's mentions (docs/bluesky.md); an app password, never in this file:
# [channels.bluesky.acme]
# handle = "acme.bsky.social"
# app_password_env = "BLUESKY_ACME_PASSWORD"   # or app_password_file = "bluesky.password"
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
    ignore = directory / ".gitignore"
    if not ignore.exists():  # an admin's own additions are theirs to keep
        ignore.write_text(GITIGNORE)
    return config


# A deployment is meant to live in version control (its config, templates and rules are
# what admins edit); its secrets, database and stored mail never are.
GITIGNORE = """\
# Written by `inbox init`: what must never reach version control.
secret.key
*.token
*.key
*.pem
inbox.db
inbox.db-*
*.db.lock
*.db.sent
blobs/
"""
