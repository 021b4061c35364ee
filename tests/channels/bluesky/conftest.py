"""The Bluesky area's peer: a real local network (devnet.py), one per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.bluesky.devnet import Devnet, running


@pytest.fixture(scope="session")
def bluesky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with running(tmp_path_factory.mktemp("bluesky")) as net:
        yield net
