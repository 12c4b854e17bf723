"""`GET /h5/my-data/{token}`: the person's copy of their data, behind the one-use link that
`requestMyDataExport` gave them. The token is the only credential (a browser download cannot
carry the bearer token); it works once, for minutes, and only its hash is stored. The answer
is a JSON file, never cached; a link unknown, used or expired is one plain 404."""

from __future__ import annotations

import json
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.audit.trail import AuditTrail
from cdp.auth import Principal, Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.erasure.export_links import redeem_link
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.unit_of_work import audited_transaction

PATH = "/h5/my-data/{token}"
LINK_SUBJECT = "export-link"  # until the link names its person
HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


class MyDataDownload:
    def __init__(
        self, settings: Settings, database: Database, keyring: KeyringSource, keystore: KeyStore
    ) -> None:
        self.settings, self.database = settings, database
        self.keyring, self.keystore = keyring, keystore

    def routes(self) -> list[Route]:
        return [Route(PATH, self.download, methods=["GET"])]

    async def download(self, request: Request) -> Response:
        request_id = getattr(request.state, "request_id", None) or secrets.token_hex(16)
        trail = AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=LINK_SUBJECT,
            actor_role=Role.CUSTOMER.value,
            request_id=request_id,
        )
        async with audited_transaction(self.database, trail) as session:
            found = await redeem_link(
                session=session,
                vault=Vault(self.keyring, self.keystore),
                token=str(request.path_params["token"]),
            )
            if found is not None:
                trail.continue_as(Principal(subject=found[0].public_id, role=Role.CUSTOMER))
        headers = {**HEADERS, "x-request-id": request_id}
        if found is None:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "This link has expired or was already used; ask for "
                            "a new one in the member centre",
                            "extensions": {"code": "NOT_FOUND", "requestId": request_id},
                        }
                    ]
                },
                status_code=404,
                headers=headers,
            )
        body = json.dumps(found[1], ensure_ascii=False, indent=2).encode("utf-8")
        name = f"my-data-{utcnow().strftime('%Y%m%d')}.json"
        return Response(
            body,
            media_type="application/json; charset=utf-8",
            headers={**headers, "content-disposition": f'attachment; filename="{name}"'},
        )
