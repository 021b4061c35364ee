"""`inbox run` serves the desk: where it says, until it is stopped, or says why not."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from inbox.core.config import load_settings
from inbox.runtime.deployment import init_deployment
from tests.peers import free_port
from tests.web.conftest import (
    INBOX,
    ON_SQLITE_ONLY,
    DeskProcess,
    make_deployment,
    operator_env,
    start_desk,
)


def test_a_new_deployment_serves_the_desk_on_localhost(tmp_path: Path) -> None:
    web = load_settings(init_deployment(tmp_path / "desk"), {}).web
    assert (web.enabled, web.listen) == (True, "127.0.0.1:8025")


@ON_SQLITE_ONLY  # the health answer and the log line: no database changes them
def test_health_is_answered_without_signing_in(desk: DeskProcess) -> None:
    answer = httpx.get(desk.url + "/healthz")
    assert (answer.status_code, answer.text) == (200, "ok")
    assert answer.headers["cache-control"] == "no-store"
    assert f"desk on {desk.url}" in desk.output()


def test_the_desk_stops_with_the_daemon(tmp_path: Path) -> None:
    port = free_port()
    running = start_desk(make_deployment(tmp_path / "desk", port), port)
    assert running.stop() == 0, running.output()
    assert "inbox daemon stopped" in running.output()
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url + "/healthz")


def test_a_port_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        directory = make_deployment(tmp_path / "desk", port)
        done = subprocess.run([*INBOX, "run"], cwd=directory, env=operator_env(),
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert f"127.0.0.1:{port}" in line and "in use" in line and "[web] listen" in line
