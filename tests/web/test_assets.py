"""What the desk ships to browsers: vendored files exactly as recorded, and no page or
stylesheet that points a browser at another host."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
WEB = ROOT / "inbox" / "web"
VENDORED = [WEB / "static" / "vendor", ROOT / "tests" / "web" / "vendor"]
# src=, href=, action=, CSS url() and @import with a scheme or a protocol-relative //
REMOTE = re.compile(r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?|url\(\s*["']?|
                        @import\s+["']?)\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I | re.X)


@pytest.mark.parametrize("vendor", VENDORED, ids=lambda p: str(p.relative_to(ROOT)))
def test_vendored_files_are_the_ones_recorded(vendor: Path) -> None:
    recorded: dict[str, str] = {}
    for line in (vendor / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        recorded[name] = digest
    present = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file()}
    assert present - {"SHA256SUMS", "README.md"} == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert all((vendor / name).parent.joinpath("LICENSE").exists() for name in recorded)


def test_no_page_or_stylesheet_points_at_another_host() -> None:
    files = [*WEB.joinpath("templates").rglob("*.html"), *WEB.joinpath("static").glob("*.css")]
    assert files
    for path in files:
        assert not REMOTE.search(path.read_text()), path
    assert REMOTE.search('<script src="https://cdn.example/htmx.js">')  # the check works
    assert REMOTE.search("body { background: url(//cdn.example/x.png) }")


def test_the_wheel_ships_the_pages_and_assets() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "inbox.web" in data["packages"]
    patterns = data["package-data"]["inbox.web"]
    shipped = {p.relative_to(WEB).as_posix() for pattern in patterns for p in WEB.glob(pattern)
               if p.is_file()}
    wanted = {p.relative_to(WEB).as_posix() for top in ("templates", "static")
              for p in WEB.joinpath(top).rglob("*") if p.is_file()}
    assert wanted <= shipped, wanted - shipped
