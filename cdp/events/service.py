"""Recording behaviour events in batches: a result per item, idempotent by event id, never
creating a profile for an identity it does not know."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.channels import APP_CHANNELS, Channel
from cdp.db import insert_ignoring_duplicates, lock_profiles, utcnow
from cdp.errors import CdpError, ErrorCode, bad_input, not_found
from cdp.events.keys import claim_keys
from cdp.events.models import Event
from cdp.keys.vault import Vault
from cdp.orders.entry import parse_entry
from cdp.partitions import is_partitioned
from cdp.profiles.directory import app_open_id_key, owners, public_id_key
from cdp.profiles.merge import Merge, reassign_rows
from cdp.profiles.models import ProfileMerge
from cdp.profiles.values import clean_identifier
from cdp.reevaluation import note as reevaluate
from cdp.suppression.models import SuppressionKind
from cdp.suppression.service import any_suppressed, hash_of, suppressed_error
from cdp.text import check_json_text

MAX_BATCH = 100  # the hardening limit on every list argument
MAX_PROPERTIES_BYTES = 4096
MAX_DEPTH = 4
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_AGE = timedelta(days=366)
_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,63}")


class EventStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"  # this event id was recorded before: counted once
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class EventInput:
    event_id: str
    type: str
    channel: Channel
    occurred_at: datetime
    app_id: str | None = None
    open_id: str | None = None
    profile_id: str | None = None
    entry: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventOutcome:
    index: int
    event_id: str
    status: EventStatus
    code: ErrorCode | None = None
    message: str | None = None
    field: str | None = None


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _check(event: EventInput, now: datetime) -> dict[str, Any]:
    """The row to insert (without profile), or CdpError naming what is wrong."""
    event_id = clean_identifier(event.event_id, field="eventId")
    if not _TYPE.fullmatch(event.type):
        raise bad_input("type must be lowercase letters, digits, '_' or '.' (1-64)", field="type")
    if event.channel not in APP_CHANNELS:
        raise bad_input(f"{event.channel.value} is not an app channel", field="channel")
    occurred = event.occurred_at
    if occurred > now + FUTURE_TOLERANCE:
        raise bad_input("occurredAt is in the future", field="occurredAt")
    if occurred < now - MAX_AGE:
        raise bad_input("occurredAt is more than a year ago", field="occurredAt")
    if not isinstance(event.properties, dict):
        raise bad_input("properties must be a JSON object", field="properties")
    encoded = json.dumps(event.properties, ensure_ascii=False, separators=(",", ":"))
    if len(encoded.encode()) > MAX_PROPERTIES_BYTES:
        raise bad_input(f"properties exceed {MAX_PROPERTIES_BYTES} bytes", field="properties")
    if _depth(event.properties) > MAX_DEPTH:
        raise bad_input(f"properties nest deeper than {MAX_DEPTH}", field="properties")
    check_json_text(event.properties, field="properties")
    if (event.profile_id is None) == (event.open_id is None) or (
        event.open_id is not None and event.app_id is None
    ):
        raise bad_input("identify the person by appId and openId, or by profileId", field="openId")
    if event.app_id is not None:
        clean_identifier(event.app_id, field="appId")
    entry_from, entry_params = parse_entry(event.entry)
    return {
        "event_id": event_id,
        "type": event.type,
        "channel": event.channel,
        "app_id": event.app_id,
        "entry_from": entry_from,
        "entry_params": entry_params,
        "properties": event.properties,
        "occurred_at": occurred,
        "received_at": now,
    }


async def _resolve_people(
    session: AsyncSession, vault: Vault, events: Sequence[EventInput]
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Profile ids for the identities and public ids the batch names (unknown ones absent)."""
    by_identity: dict[tuple[str, str], int] = {}
    wanted = {(e.app_id, e.open_id) for e in events if e.open_id and e.app_id}
    # Through the directory: the shards of these keys' hashes, never a scan of every shard.
    keys = {app_open_id_key(a, vault.blind_index("open_id", o)): (a, o) for a, o in sorted(wanted)}
    for key, profile_id in (await owners(session, keys)).items():
        by_identity[keys[key]] = profile_id
    public_ids = {e.profile_id for e in events if e.profile_id}
    by_public: dict[str, int] = {}
    if public_ids:
        named = {public_id_key(pid): pid for pid in sorted(public_ids)}
        by_public = {named[key]: owner for key, owner in (await owners(session, named)).items()}
        merged = await session.execute(
            sa.select(col(ProfileMerge.loser_public_id), col(ProfileMerge.survivor_id)).where(
                col(ProfileMerge.loser_public_id).in_(public_ids - set(by_public))
            )
        )
        by_public.update({pid: int(i) for pid, i in merged})
    return by_identity, by_public


async def refuse_or_unknown(session: AsyncSession, vault: Vault, event: EventInput) -> CdpError:
    """Why an event names nobody: the person was erased (SUPPRESSED), or never linked."""
    if event.profile_id:
        hashes = [
            (SuppressionKind.PROFILE, hash_of(vault, SuppressionKind.PROFILE, event.profile_id))
        ]
    else:
        hashes = [
            (SuppressionKind.OPEN_ID, hash_of(vault, SuppressionKind.OPEN_ID, event.open_id or ""))
        ]
    if await any_suppressed(session, hashes):
        return suppressed_error()
    return not_found("unknown identity: link it first (events never create a profile)")


async def record_events(
    *,
    session: AsyncSession,
    vault: Vault,
    events: Sequence[EventInput],
    now: datetime | None = None,
) -> list[EventOutcome]:
    """Record up to 100 events; each gets its own outcome, a bad one never spoils the rest."""
    now = now or utcnow()
    if not 1 <= len(events) <= MAX_BATCH:
        raise bad_input(f"send 1-{MAX_BATCH} events per call", field="events")
    outcomes: dict[int, EventOutcome] = {}
    rows: dict[int, dict[str, Any]] = {}
    for index, event in enumerate(events):
        try:
            rows[index] = _check(event, now)
        except CdpError as exc:
            outcomes[index] = EventOutcome(
                index, event.event_id, EventStatus.REJECTED, exc.code, exc.message, exc.field
            )
    named = [events[i] for i in rows]
    by_identity, by_public = await _resolve_people(session, vault, named)
    found = set(by_identity.values()) | set(by_public.values())
    # Held until commit: no merge folds these people away before the events land.
    if found and await lock_profiles(session, found, exclusive=False):
        by_identity, by_public = await _resolve_people(session, vault, named)
    first_of: dict[str, int] = {}
    for index, row in list(rows.items()):
        event = events[index]
        profile_id = (
            by_public.get(event.profile_id)
            if event.profile_id
            else by_identity.get((event.app_id or "", event.open_id or ""))
        )
        if profile_id is None:
            del rows[index]
            refused = await refuse_or_unknown(session, vault, event)
            outcomes[index] = EventOutcome(
                index, event.event_id, EventStatus.REJECTED, refused.code, refused.message
            )
        elif row["event_id"] in first_of:
            del rows[index]
            outcomes[index] = EventOutcome(index, row["event_id"], EventStatus.DUPLICATE)
        else:
            row["profile_id"] = profile_id
            first_of[row["event_id"]] = index
    table: sa.Table = Event.__table__  # type: ignore[attr-defined]
    if is_partitioned(session):  # the ids are unique in event_keys (cdp.events.keys)
        inserted = await claim_keys(session, rows.values())
        fresh = sorted(
            (r for r in rows.values() if r["event_id"] in inserted), key=lambda r: r["event_id"]
        )
        if fresh:
            await session.execute(sa.insert(table), fresh)
    else:
        inserted = await insert_ignoring_duplicates(
            session, table, list(rows.values()), key="event_id"
        )
    reevaluate(session, [r["profile_id"] for r in rows.values() if r["event_id"] in inserted])
    for index, row in rows.items():
        status = EventStatus.ACCEPTED if row["event_id"] in inserted else EventStatus.DUPLICATE
        outcomes[index] = EventOutcome(index, row["event_id"], status)
    counts = {s.value: sum(o.status is s for o in outcomes.values()) for s in EventStatus}
    audit.record(session, action="event.record", detail=counts)
    return [outcomes[i] for i in range(len(events))]


async def record_event(*, session: AsyncSession, vault: Vault, event: EventInput) -> EventOutcome:
    """One event; its refusal is raised as the coded error."""
    [outcome] = await record_events(session=session, vault=vault, events=[event])
    if outcome.status is EventStatus.REJECTED:
        assert outcome.code is not None and outcome.message is not None
        raise CdpError(outcome.code, outcome.message, field=outcome.field)
    return outcome


async def move_events(merge: Merge) -> int:
    return await reassign_rows(merge, Event)
