"""`inbox systemd-unit`: a unit systemd accepts, for this deployment and this venv."""

from __future__ import annotations

import configparser
import fnmatch
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from inbox.runtime.app import App
from inbox.runtime.daemon import STOP_GRACE_SECONDS
from tests.cli.test_cli import inbox

ROOT = Path(__file__).resolve().parents[2]


def parsed(text: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)  # a key twice: error
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    unit.read_string(text)
    return unit


def seconds(value: str) -> float:
    return float(value.removesuffix("s"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_unit_runs_this_deployment_as_its_own_user_and_restarts_on_failure(
        app: App, tmp_path: Path) -> None:
    text = inbox("systemd-unit").stdout
    service = parsed(text)["Service"]
    deployment = app.settings.base_dir.resolve()
    assert service["WorkingDirectory"] == str(deployment)
    assert service["Environment"] == f"INBOX_CONFIG={deployment / 'inbox.toml'}"
    program, *args = service["ExecStart"].split()
    assert Path(program).is_absolute() and os.access(program, os.X_OK)
    assert args[-1] == "run"
    assert (service["User"], service["EnvironmentFile"]) == ("inbox", "/etc/inbox/inbox.env")
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert seconds(service["TimeoutStopSec"]) > STOP_GRACE_SECONDS
    assert service["ProtectSystem"] == "strict"
    assert str(deployment) in service["ReadWritePaths"].split()
    # This test's deployment is under /tmp: a private /tmp would hide it from the service.
    assert service["PrivateTmp"] == ("no" if str(deployment).startswith("/tmp/") else "yes")
    assert "Environment=INBOX_SECRET_KEY" not in text  # secrets stay in the env file

    if shutil.which("systemd-analyze"):  # present on Debian; it checks every key and path
        (tmp_path / "inbox.service").write_text(text)
        done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "inbox.service")],
                              capture_output=True, text=True, check=False)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_data_kept_outside_the_deployment_is_writable_too(app: App, tmp_path: Path) -> None:
    config = app.settings.base_dir / "inbox.toml"
    config.write_text(config.read_text().replace(
        'blobs_dir = "blobs"', f'blobs_dir = "{tmp_path / "var" / "blobs"}"'))
    text = inbox("systemd-unit", "--user", "support", "--env-file", "/etc/support.env").stdout
    service = parsed(text)["Service"]
    assert service["ReadWritePaths"].split() == [
        str(app.settings.base_dir.resolve()), str((tmp_path / "var" / "blobs").resolve()),
        str(tmp_path.resolve())]  # the database's folder: SQLite writes -wal beside it
    assert (service["User"], service["EnvironmentFile"]) == ("support", "/etc/support.env")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_path_systemd_would_misread_is_refused_in_one_line(
        app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spaced = tmp_path / "my desk"
    shutil.copytree(app.settings.base_dir, spaced)
    monkeypatch.setenv("INBOX_CONFIG", str(spaced / "inbox.toml"))
    refused = inbox("systemd-unit", ok=False)
    assert refused.exit_code == 1
    assert "my desk" in refused.stderr and "edit the unit by hand" in refused.stderr


def test_the_template_ships_in_the_wheel() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["inbox.runtime"]
    assert any(fnmatch.fnmatch("inbox.service.in", p) for p in patterns)
    assert (ROOT / "inbox" / "runtime" / "inbox.service.in").is_file()
