"""ruff and mypy --strict over the project, as part of the one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("tool", [
    ["ruff", "check", "."],
    [sys.executable, "-m", "mypy", "inbox", "channels", "bench"],
])
def test_clean(tool: list[str]) -> None:
    if shutil.which(tool[0]) is None and tool[0] != sys.executable:
        pytest.fail(f"{tool[0]} is not installed: pip install -e '.[test]'")
    done = subprocess.run(tool, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
