"""The pages cdp serves from its own files (the member center at `/h5/`, the staff console at
`/console/`): read once at start-up, served with the headers their page asks for, the bare
path redirected to the slash, anything else a plain 404."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route


class StaticPages:
    """`files` maps a name under `prefix/` ("" is the page itself) to its body and media
    type; every answer carries `headers` (the page's Content-Security-Policy and the like)."""

    def __init__(
        self, prefix: str, files: Mapping[str, tuple[bytes, str]], headers: Mapping[str, str]
    ) -> None:
        self.prefix, self.files, self.headers = prefix, dict(files), dict(headers)

    def routes(self) -> list[Route]:
        return [
            Route(self.prefix, self.to_slash, methods=["GET", "HEAD"]),
            Route(f"{self.prefix}/{{name:path}}", self.serve, methods=["GET", "HEAD"]),
        ]

    async def to_slash(self, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{self.prefix}/{query}", status_code=308)

    async def serve(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        body, media = found
        return Response(body, media_type=media, headers=self.headers)
