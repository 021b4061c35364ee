"""The house keeps its shape: the dependency rule of docs/architecture.md, as
import-linter contracts in pyproject.toml, holds for every import in the tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_imports_only_the_layers_below_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the contracts are read from ./pyproject.toml
    code = lint_imports(no_cache=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "BROKEN" not in out and out.count("KEPT") == 4, out
