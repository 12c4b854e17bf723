"""The limit to approach for support's lookup by phone: a hand-written endpoint doing the
work of cdp's `profile(phone:, purpose:) { id tier phone name }` and none of GraphQL.

`POST /lookup` with `{"phone": ..., "purpose": ...}`: the same token check (support or
compliance), the same purpose check, the same miss cap read (the staff roles' misses are
capped), the same blind-index lookup (cdp's service function), the data keys unwrapped from
the key store in one call, the phone and name decrypted and masked with cdp's masks, the tier
from the paid spend, and the same audit record (the lookup with its purpose, the two masked
reads) written in the same transaction; the same JSON as cdp's answer (the bench compares).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cdp.audit.trail import AuditTrail, attach
from cdp.auth import Role, principal_from_header
from cdp.config import Settings
from cdp.crypto import data_key_id_of
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.graphql.http_request import request_id_of
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.lookups.misses import (
    LookupAttempt,
    LookupKey,
    MissCap,
    count_miss,
    refuse_if_capped,
)
from cdp.masks import mask_name, mask_phone
from cdp.orders.tiers import TierThresholds, paid_spends
from cdp.profiles import personal
from cdp.profiles import service as profiles
from cdp.profiles.values import ProfileKeys, display_phone
from cdp.text import clean_text

STAFF = frozenset({Role.SUPPORT, Role.COMPLIANCE})  # both see the phone and name masked


def _json(payload: Any, status: int = 200) -> Response:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), status, media_type="application/json")


def lookup_body(phone: str, purpose: str) -> str:
    """The request the hand-written endpoint takes (`@PICK@` for the bench's phones)."""
    return json.dumps({"phone": phone, "purpose": purpose}, ensure_ascii=False)


class LookupEndpoint:
    def __init__(self, settings: Settings, database: Database, keyring: KeyringSource) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.keystore = KeyStore(settings)
        self.cap = MissCap.of(settings)
        self.tiers = TierThresholds.of(settings)

    async def handle(self, request: Request) -> Response:
        try:
            principal = principal_from_header(self.settings, request.headers.get("authorization"))
        except CdpError as exc:
            return _json({"errors": [{"message": exc.message}]}, 401)
        if principal.role not in STAFF:
            return _json({"errors": [{"message": "support and compliance only"}]}, 403)
        try:
            asked = json.loads(await request.body())
            purpose = clean_text(str(asked["purpose"]), field="purpose", max_length=200)
            keys = ProfileKeys(phone=str(asked["phone"]))
        except (ValueError, KeyError, TypeError, CdpError):
            return _json({"errors": [{"message": "give a phone and a purpose"}]}, 400)
        trail = AuditTrail.of(
            principal, key=self.keyring.keyring.audit_key, request_id=request_id_of(request)
        )
        vault = Vault(self.keyring, self.keystore)
        try:
            async with self.database.sessions() as session:
                attach(session, trail)
                async with session.begin():
                    found = await self.lookup(
                        session, vault, trail, principal.subject, purpose, keys
                    )
        except CdpError as exc:
            return _json({"errors": [{"message": exc.message}]}, 400)
        return _json({"data": {"profile": found}})

    async def lookup(
        self,
        session: Any,
        vault: Vault,
        trail: AuditTrail,
        actor: str,
        purpose: str,
        keys: ProfileKeys,
    ) -> dict[str, Any] | None:
        key = LookupKey.of(vault.keyring, keys)
        attempt = LookupAttempt(actor, key, purpose, utcnow())
        await refuse_if_capped(session=session, cap=self.cap, attempt=attempt)
        row = await profiles.find_profile(session=session, vault=vault, keys=keys)
        if row is None or row.id is None:
            misses = await count_miss(session=session, cap=self.cap, attempt=attempt)
            trail.record(
                action="profile.lookup",
                outcome="not_found",
                purpose=purpose,
                detail={**key.detail(), "misses": misses},
            )
            return None
        pid = row.id
        trail.lookup(pid, purpose)
        sealed = (getattr(row, spec.column) for spec in personal.PROFILE_FIELDS.values())
        await vault.load_keys(None, sorted({data_key_id_of(blob) for blob in sealed if blob}))
        spend = (await paid_spends(session, [pid], utcnow()))[pid]
        phone = personal.read_field_now(vault=vault, profile=row, field="phone")
        name = personal.read_field_now(vault=vault, profile=row, field="name")
        trail.read(pid, "phone", "masked")
        trail.read(pid, "name", "masked")
        return {
            "id": row.public_id,
            "tier": self.tiers.tier_for(spend).value,
            "phone": None if phone is None else mask_phone(display_phone(phone)),
            "name": None if name is None else mask_name(name),
        }
