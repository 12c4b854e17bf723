"""The member-center page at `/h5/`: static files (no build step) that call `/graphql` with the
customer's token. Served with a strict Content-Security-Policy and no referrer, so the token
in the page's fragment and storage stays with the page."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

PAGE_DIR = Path(__file__).parent
FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "index.html": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "app.css": ("app.css", "text/css; charset=utf-8"),
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


class MemberCenter:
    """The page's files, read once at start-up."""

    def __init__(self) -> None:
        self.files = _load()

    def routes(self) -> list[Route]:
        return [
            Route("/h5", self.to_slash, methods=["GET", "HEAD"]),
            Route("/h5/{name:path}", self.serve, methods=["GET", "HEAD"]),
        ]

    async def to_slash(self, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/h5/{query}", status_code=308)

    async def serve(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        body, media = found
        return Response(body, media_type=media, headers=HEADERS)
