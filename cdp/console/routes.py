"""The staff console at `/console/`: static files with a strict Content-Security-Policy (no
inline script, no framing). The page's sign-in choices are fixed when it is loaded at
start-up: WeCom and OpenID Connect when configured, the development sign-in outside
production (the page for production carries no trace of it)."""

from __future__ import annotations

import re
from pathlib import Path

from cdp.config import Settings
from cdp.static_pages import StaticPages

PAGE_DIR = Path(__file__).parent
HTML = "text/html; charset=utf-8"
FILES = {
    "": ("index.html", HTML),
    "index.html": ("index.html", HTML),
    "console.js": ("console.js", "text/javascript; charset=utf-8"),
    "support.js": ("support.js", "text/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
}
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


class Console(StaticPages):
    """The console's files, read (and the page rendered) once at start-up."""

    def __init__(self, settings: Settings) -> None:
        choices = sign_in_choices(settings)
        files: dict[str, tuple[bytes, str]] = {}
        for name, (file, media) in FILES.items():
            text = (PAGE_DIR / file).read_text(encoding="utf-8")
            body = render(text, choices) if media == HTML else text
            files[name] = (body.encode("utf-8"), media)
        super().__init__("/console", files, HEADERS)
