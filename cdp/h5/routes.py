"""The member-center page at `/h5/`: static files (no build step) that call `/graphql` with the
customer's token. Served with a strict Content-Security-Policy and no referrer, so the token
in the page's fragment and storage stays with the page."""

from __future__ import annotations

from pathlib import Path

from cdp.static_pages import StaticPages

PAGE_DIR = Path(__file__).parent
FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "index.html": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "app.css": ("app.css", "text/css; charset=utf-8"),
    "privacy.js": ("privacy.js", "text/javascript; charset=utf-8"),
    "privacy.css": ("privacy.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    # Revalidate every time: a brand's fix to the page reaches phones at once.
    "cache-control": "no-cache",
}


def _load() -> dict[str, tuple[bytes, str]]:
    return {name: ((PAGE_DIR / file).read_bytes(), media) for name, (file, media) in FILES.items()}


class MemberCenter(StaticPages):
    """The page's files, read once at start-up."""

    def __init__(self) -> None:
        super().__init__("/h5", _load(), HEADERS)
