"""GraphiQL, served by cdp itself: the page on `GET /graphql` (a browser asking for HTML, never
in production) and its files under `/graphql/assets/`, GraphiQL and React vendored from their
npm packages at pinned versions (scripts/graphiql-assets/). Nothing loads from another origin:
the Content-Security-Policy allows 'self' only (and the data: fonts GraphiQL's CSS embeds)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

ASSETS = Path(__file__).parent / "assets"
PAGE = (Path(__file__).parent / "graphiql.html").read_text(encoding="utf-8")
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self' data:; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}
# A vendored file's path names its version, so it never changes: cached for a year. cdp's own
# two files change with cdp, so they are revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"


@cache
def _load() -> dict[str, tuple[bytes, str, str]]:
    """Path under assets/ -> (body, media type, cache-control), read once."""
    files = {}
    for path in sorted(ASSETS.rglob("*")):
        media = MEDIA.get(path.suffix)
        if media is None or not path.is_file():
            continue  # licence files stay in the repository and the package, not on the wire
        name = path.relative_to(ASSETS).as_posix()
        files[name] = (path.read_bytes(), media, IMMUTABLE if "@" in name else "no-cache")
    return files


class GraphiQL:
    """The page and its files."""

    def __init__(self) -> None:
        self.files = _load()

    def page(self, request_id: str) -> Response:
        return HTMLResponse(PAGE, headers={**HEADERS, "x-request-id": request_id})

    def routes(self, *, enabled: bool) -> list[Route]:
        """The asset route; none in production, where GraphiQL is off."""
        if not enabled:
            return []
        return [Route("/graphql/assets/{name:path}", self.serve, methods=["GET", "HEAD"])]

    async def serve(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        body, media, cache = found
        return Response(body, media_type=media, headers={**HEADERS, "cache-control": cache})
