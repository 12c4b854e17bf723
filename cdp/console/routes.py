"""The staff console at `/console/`: static files with a strict Content-Security-Policy (no
inline script, no framing). The page's sign-in choices are fixed when it is loaded at
start-up: WeCom and OpenID Connect when configured, the development sign-in outside
production (the page for production carries no trace of it).

What is served is an allow-list made at start-up by walking this directory: every page,
script, style sheet and text file, and under `vendor/` the npm files vendored at pinned
versions (Apache ECharts, scripts/echarts-assets/) with their licences. A new console file
needs no edit here; a name not on the list (`..`, an absolute path, a Python file) is the
coded 404."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cdp.config import Settings
from cdp.static_pages import StaticPages

PAGE_DIR = Path(__file__).parent
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
MEDIA = {
    ".html": HTML,
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": TEXT,
}
LICENCES = ("LICENSE", "NOTICE")  # LICENSE, LICENSE-d3, NOTICE...: plain text
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}
# A vendored file's path names its version, so it never changes: cached for a year. The
# console's own files change with cdp, so they are revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"
_BLOCK = re.compile(r"<!--if:(\w+)-->\n?(.*?)<!--end:\1-->\n?", re.DOTALL)


def sign_in_choices(settings: Settings) -> dict[str, bool]:
    """Which of the page's conditional blocks it keeps."""
    wecom, oidc = settings.staff_wecom is not None, settings.has_oidc
    return {
        "wecom": wecom,
        "oidc": oidc,
        "none": not (wecom or oidc),
        "development": not settings.is_production,
    }


def render(page: str, choices: dict[str, bool]) -> str:
    """`page` with each `<!--if:NAME-->…<!--end:NAME-->` block kept or dropped."""
    return _BLOCK.sub(lambda found: found.group(2) if choices[found.group(1)] else "", page)


def media_type(path: Path) -> str | None:
    """What a file is served as, or None when it is not served."""
    if path.name.startswith(LICENCES):
        return TEXT
    return MEDIA.get(path.suffix)


def served_files(root: Path = PAGE_DIR) -> dict[str, Path]:
    """The allow-list: name under `/console/` -> file, for every file under `root` (hidden
    ones aside) whose kind `media_type` knows."""
    files = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        hidden = any(part.startswith(".") for part in name.split("/"))
        if path.is_file() and not path.is_symlink() and not hidden and media_type(path):
            files[name] = path
    return files


class Console(StaticPages):
    """The console's files, read (and the pages rendered) once at start-up."""

    def __init__(self, settings: Settings) -> None:
        choices = sign_in_choices(settings)
        files: dict[str, tuple[bytes, str]] = {}
        self.cache_control: dict[str, str] = {}
        for name, path in served_files().items():
            media = media_type(path) or TEXT
            vendored = name.startswith("vendor/")
            body = path.read_bytes()
            if media == HTML and not vendored:
                body = render(body.decode("utf-8"), choices).encode("utf-8")
            files[name] = (body, media)
            self.cache_control[name] = IMMUTABLE if vendored else "no-cache"
        files[""] = files["index.html"]
        super().__init__("/console", files, HEADERS)

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = self.files.get(name)
        if found is None:
            raise HTTPException(404)  # answered by the app's coded NOT_FOUND
        body, media = found
        cache = self.cache_control.get(name, "no-cache")
        return Response(body, media_type=media, headers={**self.headers, "cache-control": cache})
