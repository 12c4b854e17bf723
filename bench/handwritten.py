"""The limit to approach: a hand-written Starlette endpoint answering the `me` document of
bench.customer with the same work as cdp and none of GraphQL (and, beside it, support's
lookup by phone: bench.handwritten_lookup).

Same token check, the same statements (cdp's own service functions, one transaction), the
same decryption through a per-request Vault, the same audit record written in that
transaction, and the same JSON as cdp's answer (the bench compares the two).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.audit.trail import AuditTrail, attach
from cdp.auth import Role, principal_from_header
from cdp.channels import Channel
from cdp.config import Settings, load_settings
from cdp.consent import service as consent
from cdp.consent.models import DEFAULT_GRANTED, ConsentPurpose
from cdp.crypto import data_key_id_of
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.graphql.http_request import request_id_of
from cdp.graphql.pages import sign_cursor
from cdp.keys.source import KeyringSource, load_keyring
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.loyalty import coupons, points
from cdp.orders import queries as orders
from cdp.orders.tiers import TierThresholds, paid_spends
from cdp.profiles import personal
from cdp.profiles import service as profiles
from cdp.profiles.values import PostalAddress, display_phone
from cdp.tags import service as tags

AUDITED = ("unionId", "identities", "phone", "name", "address", "birthday", "shippingAddress")


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _address(value: PostalAddress | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "province": value.province,
        "city": value.city,
        "district": value.district,
        "street": value.street,
    }


def _json(payload: Any, status: int = 200) -> Response:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), status, media_type="application/json")


class MeEndpoint:
    def __init__(self, settings: Settings, database: Database, keyring: KeyringSource) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.keystore = KeyStore(settings)

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            principal = principal_from_header(self.settings, request.headers.get("authorization"))
        except CdpError as exc:
            return _json({"errors": [{"message": exc.message}]}, 401)
        if principal.role is not Role.CUSTOMER:
            return _json({"errors": [{"message": "customers only"}]}, 403)
        trail = AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=principal.subject,
            actor_role=principal.role.value,
            request_id=request_id,
        )
        vault = Vault(self.keyring, self.keystore)
        async with self.database.sessions() as session:
            attach(session, trail)
            async with session.begin():
                me = await self.me(session, vault, trail, principal.subject)
        return _json({"data": {"me": me}})

    async def me(self, session: Any, vault: Vault, trail: AuditTrail, subject: str) -> Any:
        row = await profiles.get_profile(session=session, public_id=subject)
        if row is None or row.id is None:
            return None
        pid, now, keys = row.id, utcnow(), vault.keyring
        trail.lookup(pid, None)
        spend = (await paid_spends(session, [pid], now))[pid]
        sealed = (getattr(row, spec.column) for spec in personal.PROFILE_FIELDS.values())
        await vault.load_keys(session, [data_key_id_of(blob) for blob in sealed if blob])

        async def field(name: str) -> Any:
            return await personal.read_field(session=session, vault=vault, profile=row, field=name)

        identities = (await profiles.identities_of(session=session, profile_ids=[pid]))[pid]
        balance = (await points.current_balances(session=session, profile_ids=[pid], now=now))[pid]
        coupon_rows = (
            await coupons.coupons_of(session=session, profile_ids=[pid], status=None, now=now)
        )[pid]
        order_rows = (
            await orders.orders_of(
                session=session, profile_ids=[pid], status=None, limit=21, before=None
            )
        )[pid]
        tag_rows = (await tags.tags_of(session=session, profile_ids=[pid]))[pid]
        consents = (await consent.consents_of(session=session, profile_ids=[pid]))[pid]
        ledger = (await points.history(session=session, profile_ids=[pid], limit=11, before=None))[
            pid
        ]
        items = await orders.items_of(session=session, order_ids=[o.id or 0 for o in order_rows])
        for name in AUDITED:
            trail.read(pid, name, "full")
        page, entries = order_rows[:20], ledger[:10]
        birthday = await field("birthday")
        return {
            "id": row.public_id,
            "tier": TierThresholds.of(self.settings).tier_for(spend).value,
            "unionId": await field("union_id"),
            "phone": None if (phone := await field("phone")) is None else display_phone(phone),
            "name": await field("name"),
            "birthday": None if birthday is None else birthday.isoformat(),
            "createdAt": _iso(row.created_at),
            "address": _address(await field("address")),
            "identities": [
                {
                    "channel": i.channel.value,
                    "appId": i.app_id,
                    "openId": await personal.read_open_id(session=session, vault=vault, identity=i),
                    "linkedAt": _iso(i.linked_at),
                }
                for i in identities
            ],
            "points": {
                "balance": balance,
                "history": {
                    "items": [
                        {
                            "id": str(e.id),
                            "kind": e.kind.value,
                            "points": e.points,
                            "balanceAfter": e.balance_after,
                            "reason": e.reason,
                            "channel": e.channel.value if e.channel else None,
                            "createdAt": _iso(e.created_at),
                            "expiresAt": _iso(e.expires_at),
                        }
                        for e in entries
                    ],
                    "pageInfo": {
                        "hasNextPage": len(ledger) > 10,
                        "endCursor": sign_cursor(keys, "points", entries[-1].id)
                        if entries
                        else None,
                    },
                },
            },
            "coupons": {
                "items": [
                    {
                        "id": c.public_id,
                        "title": c.title,
                        "kind": c.kind.value,
                        "discountFen": c.discount_fen,
                        "percentOff": c.percent_off,
                        "minSpendFen": c.min_spend_fen,
                        "channels": list(c.channels),
                        "validFrom": _iso(c.valid_from),
                        "validUntil": _iso(c.valid_until),
                        "status": coupons.status_of(c, utcnow()).value,
                        "issuedAt": _iso(c.issued_at),
                        "redeemedAt": _iso(c.redeemed_at),
                    }
                    for c in coupon_rows[:5]
                ],
                "pageInfo": {
                    "hasNextPage": len(coupon_rows) > 5,
                    "endCursor": sign_cursor(keys, "coupons", coupon_rows[:5][-1].id)
                    if coupon_rows
                    else None,
                },
            },
            "orders": {
                "items": [
                    {
                        "id": o.public_id,
                        "channel": o.channel.value,
                        "externalId": o.external_id,
                        "status": o.status.value,
                        "itemsFen": o.items_fen,
                        "discountFen": o.discount_fen,
                        "shippingFen": o.shipping_fen,
                        "totalFen": o.total_fen,
                        "entryFrom": o.entry_from,
                        "entryParams": o.entry_params,
                        "paidAt": _iso(o.paid_at),
                        "items": [
                            {
                                "sku": i.sku,
                                "name": i.name,
                                "quantity": i.quantity,
                                "unitPriceFen": i.unit_price_fen,
                                "amountFen": i.quantity * i.unit_price_fen,
                            }
                            for i in items[o.id or 0]
                        ],
                        "shippingAddress": _address(
                            await orders.shipping_address(session=session, vault=vault, order=o)
                        ),
                    }
                    for o in page
                ],
                "pageInfo": {
                    "hasNextPage": len(order_rows) > 20,
                    "endCursor": sign_cursor(keys, "orders", page[-1].paid_at, page[-1].id)
                    if page
                    else None,
                },
            },
            "tags": {
                "items": [
                    {"name": t.tag, "source": t.source.value, "taggedAt": _iso(t.tagged_at)}
                    for t in tag_rows[:100]
                ]
            },
            "consents": {
                "current": [
                    _consent(purpose, channel, consents.get((purpose, channel)))
                    for purpose in ConsentPurpose
                    for channel in Channel
                ]
            },
        }


def _consent(purpose: ConsentPurpose, channel: Channel, row: Any) -> dict[str, Any]:
    return {
        "purpose": purpose.value,
        "channel": channel.value,
        "granted": DEFAULT_GRANTED[purpose] if row is None else row.granted,
        "explicit": row is not None,
        "noticeVersion": None if row is None else row.notice_version,
        "sourceChannel": row.source_channel.value if row and row.source_channel else None,
        "updatedAt": None if row is None else _iso(row.updated_at),
    }


def create_handwritten_app(settings: Settings | None = None) -> Starlette:
    """`POST /graphql`: the `me` endpoint above; `POST /lookup`: support's lookup by phone
    (bench.handwritten_lookup)."""
    from bench.handwritten_lookup import LookupEndpoint

    settings = settings or load_settings()
    database = Database(settings)
    keyring = load_keyring(settings)
    endpoint = MeEndpoint(settings, database, keyring)
    lookup = LookupEndpoint(settings, database, keyring)

    async def healthz(_request: Request) -> Response:
        return _json({"status": "ok"})

    return Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["POST"]),
            Route("/lookup", lookup.handle, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
