"""The desk's static files, each under a name that carries its digest.

`/static/desk.css` is served as `/static/desk.<12 hex of its sha256>.css`, so a browser
may keep it for a year (`immutable`): a changed file has a new URL, and a page never
meets a stale stylesheet after an upgrade. Only files present at start and only known
kinds are served; a name without the right digest is a 404, never a guess.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
SERVED = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2"}
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass
class Assets:
    root: Path = STATIC
    urls: dict[str, str] = field(default_factory=dict)  # "desk.css" -> its versioned URL
    files: dict[str, Path] = field(default_factory=dict)  # versioned name -> file

    def __post_init__(self) -> None:
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.suffix not in SERVED:
                continue
            name = path.relative_to(self.root).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            versioned = f"{name[: -len(path.suffix)]}.{digest}{path.suffix}"
            self.urls[name] = f"/static/{versioned}"
            self.files[versioned] = path

    def url(self, name: str) -> str:
        """The URL of static/`name`; KeyError for a file that is not there (a template
        naming a missing file fails where it is rendered, not in the browser)."""
        return self.urls[name]

    async def serve(self, request: Request) -> Response:
        path = self.files.get(request.path_params["path"])
        if path is None:
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(path, media_type=SERVED[path.suffix],
                            headers={"Cache-Control": LONG_CACHE})
