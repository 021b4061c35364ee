"""The house keeps its shape: the dependency rule of docs/architecture.md, as
import-linter contracts in pyproject.toml, holds for every import in the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# In its own process: import-linter configures logging, which would silence the loggers
# of the tests that run after it.
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(no_cache=True))")


def test_every_package_imports_only_the_layers_below_it() -> None:
    done = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout and done.stdout.count("KEPT") == 6, done.stdout


def test_no_module_imports_itself_round_a_circle() -> None:
    """Not even for a type (`if TYPE_CHECKING:` imports count): a circle means two
    modules that cannot be read, moved or tested apart."""
    import grimp  # import-linter's graph builder

    graph = grimp.build_graph("inbox", "channels", exclude_type_checking_imports=False)
    circles = sorted((m, w) for m in graph.modules
                     for w in graph.find_modules_directly_imported_by(m)
                     if graph.chain_exists(importer=w, imported=m))
    assert circles == []
