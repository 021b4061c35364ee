"""Configuring an e-mail account: what inbox.toml says, and what it must not say.

Passwords come from the environment or a file named in the config, never from
inbox.toml; mistakes are one line naming the account and the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email.connector import EmailConnector
from inbox.core.config import ConfigError, load_settings
from inbox.runtime.connectors import build_connectors

ACCOUNT = """
[channels.email.support]
address = "Support@Helpdesk.Example"
{extra}

[channels.email.support.imap]
host = "imap.helpdesk.example"
{imap}

[channels.email.support.smtp]
host = "smtp.helpdesk.example"
{smtp}
"""


IMAP = 'password_env = "SUPPORT_IMAP_PASSWORD"'


def connectors(tmp_path: Path, extra: str = "", imap: str = IMAP,
               smtp: str = "") -> dict[tuple[str, str], EmailConnector]:
    config = tmp_path / "inbox.toml"
    config.write_text('name = "Acme Support"\n'
                      + ACCOUNT.format(extra=extra, imap=imap, smtp=smtp))
    built = build_connectors(load_settings(config, {}))
    assert all(isinstance(c, EmailConnector) for c in built.values())
    return built  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def imap_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_IMAP_PASSWORD", "imap-s3cret")


def test_an_account_with_only_the_essentials_gets_safe_defaults(tmp_path: Path) -> None:
    [(key, c)] = connectors(tmp_path).items()
    assert key == ("email", "support") and c.channel == "email"
    imap, smtp = c.source.endpoint, c.sender.endpoint
    assert (imap.port, imap.security, imap.username) == (993, "tls",
                                                          "Support@Helpdesk.Example")
    assert imap.password == "imap-s3cret" and imap.ssl_context is not None
    assert (smtp.port, smtp.security, smtp.password) == (587, "starttls", None)
    options = c.source.options
    assert options.folders == ("INBOX",) and options.start == "now"
    assert options.after_ingest == "keep" and options.idle
    assert c.sender.sender.address == "support@helpdesk.example"
    assert c.sender.sender.name == "Acme Support"
    assert c.sent is None


def test_passwords_come_from_files_beside_the_config_and_never_show(tmp_path: Path) -> None:
    (tmp_path / "smtp.password").write_text("smtp-s3cret\n")
    [c] = connectors(tmp_path, extra='name = "Acme"\nsent_folder = "Sent"',
                     smtp='password_file = "smtp.password"\nsecurity = "tls"').values()
    assert c.sender.endpoint.password == "smtp-s3cret" and c.sender.endpoint.port == 465
    assert c.sender.sender.name == "Acme" and c.sent is not None
    shown = repr(c.source.endpoint) + repr(c.sender.endpoint)
    assert "s3cret" not in shown


@pytest.mark.parametrize(("extra", "imap", "smtp", "message"), [
    ("", 'password_env = "NOT_SET_ANYWHERE"', "",
     "imap.password_env: NOT_SET_ANYWHERE is not set"),
    ("", "", "", "imap: set password_env or password_file"),
    ("", IMAP, 'password_file = "missing.txt"', "smtp.password_file"),
    ("", IMAP, 'hots = "typo"', "smtp.hots: Extra inputs are not permitted"),
    ('after_ingest = "move"', IMAP, "", 'needs move_to = "<folder>"'),
    ('after_ingest = "move"\nmove_to = "INBOX"', IMAP, "", "is a watched folder"),
    ('start = "yesterday"', IMAP, "", "start: Input should be 'now' or 'backfill'"),
    ("", IMAP + '\nsecurity = "ssl"', "", "imap.security"),
])
def test_mistakes_name_the_account_and_the_key(tmp_path: Path, extra: str, imap: str,
                                              smtp: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^\[channels\.email\.support\]: ") as caught:
        connectors(tmp_path, extra=extra, imap=imap, smtp=smtp)
    assert message in str(caught.value)


def test_a_password_in_inbox_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"imap\.password: Extra inputs are not permitted"):
        connectors(tmp_path, imap=IMAP + '\npassword = "imap-s3cret"')
