"""Activation at scale (`python -m bench.activation [--quick]`): on a throwaway durable
PostgreSQL 15 cluster, a campaign to an audience of 100,000 members (each with a
mini-program OpenID; most accepted the template's subscribe message, 70% opted in to
marketing), then

- decisions per second: the campaign's dry run, the send decision for every member (consent,
  caps, suppression, recipient, quota), target at least 1,000/s;
- queueing per second: the campaign's fan-out (decision, contact, spent acceptance and the
  outbox row, committed batch by batch);
- sends per second: messages of 2,000 people linked through cdp's own service, drained by the
  outbox worker to the fake WeChat on loopback (subscribe/send over real HTTP).

Writes its lines to the "Activation" section of bench/RESULTS.md (the rest is left as is).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from bench.bulk import refill_directory
from bench.databases import bench_settings, cluster_dsn, fresh_database, prepare_keystore
from bench.report import Row, write_section
from cdp.activation.campaigns import advance, forecast, schedule_campaign
from cdp.activation.messages import Recipient, queue_messages
from cdp.activation.models import Campaign
from cdp.activation.workers import ActivationWorker
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.devwechat.fake import MINI_APP_ID, MINI_SECRET, FakeWechat, WechatUser
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.migrations import upgrade_to_head
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.pg_cluster import PgCluster, find_bin_dir

ROOT = Path(__file__).resolve().parent
SECTION = "## Activation"
TEMPLATE = "double12"
AUDIENCE = "bench_campaign"
TEMPLATES = {
    TEMPLATE: {
        "channel": "MINI_PROGRAM",
        "app_id": MINI_APP_ID,
        "template_id": "TPL-double12-000001",
        "purpose": "MARKETING",
        "fields": {"thing1": "双十二会员专享", "date2": "{date}"},
        "quiet_hours": False,
    }
}
LINK = "mutation L($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }"


async def seed_members(dsn: str, members: int) -> None:
    """Members by COPY: a profile, a mini-program identity, an acceptance (90%), a marketing
    opt-in (70%) and the audience's RULE tag each."""
    rng, now = random.Random(11), datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        start = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM profiles")) + 1
        ids = range(start, start + members)
        await conn.copy_records_to_table(
            "profiles",
            columns=["id", "public_id", "tier", "created_at", "updated_at"],
            records=[(i, f"00000000-0000-4000-8000-{i:012d}", "STANDARD", now, now) for i in ids],
        )
        await conn.execute("SELECT setval('profiles_id_seq', (SELECT max(id) FROM profiles))")
        await conn.copy_records_to_table(
            "identities",
            columns=[
                "profile_id",
                "channel",
                "app_id",
                "open_id_bidx",
                "linked_at",
                "last_seen_at",
            ],
            records=[(i, "MINI_PROGRAM", MINI_APP_ID, rng.randbytes(32), now, now) for i in ids],
        )
        await conn.copy_records_to_table(
            "wechat_subscribe_grants",
            columns=[
                "profile_id",
                "app_id",
                "open_id_bidx",
                "template_id",
                "available",
                "choice",
                "chosen_at",
                "updated_at",
            ],
            records=[
                (
                    i,
                    MINI_APP_ID,
                    rng.randbytes(32),
                    TEMPLATES[TEMPLATE]["template_id"],
                    1,
                    "accept",
                    now,
                    now,
                )
                for i in ids
                if rng.random() < 0.9
            ],
        )
        await conn.copy_records_to_table(
            "consents",
            columns=["profile_id", "purpose", "channel", "granted", "updated_at"],
            records=[
                (i, "MARKETING", "MINI_PROGRAM", True, now) for i in ids if rng.random() < 0.7
            ],
        )
        await conn.copy_records_to_table(
            "profile_tags",
            columns=["profile_id", "tag", "source", "tagged_by", "tagged_at"],
            records=[(i, AUDIENCE, "RULE", "rule", now) for i in ids],
        )
        await refill_directory(conn)
        for name in (
            "profiles",
            "profile_keys",
            "identities",
            "wechat_subscribe_grants",
            "consents",
            "profile_tags",
        ):
            await conn.execute(f"ANALYZE {name}")
    finally:
        await conn.close()


async def decision_rows(settings: Settings, database: Database, members: int) -> list[Row]:
    keyring = KeyringSource.fixed(database_keyring(settings))
    async with database.transaction() as session:
        started = time.perf_counter()
        found = await forecast(
            session=session,
            settings=settings,
            template=TEMPLATE,
            audience=AUDIENCE,
            now=datetime.now(UTC),
        )
        dry = time.perf_counter() - started
    assert found.members == members, found
    per_second = members / dry
    refused = ", ".join(f"{r} {n:,}" for r, n in sorted(found.refused.items()))
    rows = [
        Row(
            f"campaign dry run: send decisions for {members:,} members",
            per_second,
            "decisions/s",
            "≥ 1,000/s",
            per_second >= 1000,
            detail=f"{dry:.1f} s; would send {found.would_send:,}; refused {refused}",
        )
    ]
    async with audited_transaction(database, operator_trail(keyring.keyring)) as session:
        campaign = await schedule_campaign(
            session=session,
            settings=settings,
            actor="bench",
            name="双十二",
            template=TEMPLATE,
            audience=AUDIENCE,
            starts_at=None,
            per_minute=100_000,
        )
    started = time.perf_counter()
    while True:
        async with database.transaction() as session:
            row = await session.get(Campaign, campaign.id)
            assert row is not None
            if not await advance(
                session=session, settings=settings, campaign=row, now=datetime.now(UTC)
            ):
                break
    fan_out = time.perf_counter() - started
    rows.append(
        Row(
            f"campaign fan-out: decided and queued for {members:,} members",
            members / fan_out,
            "members/s",
            "reported",
            None,
            detail=f"{fan_out:.1f} s, committed in batches of 1,000",
        )
    )
    return rows


def database_keyring(settings: Settings) -> object:
    from cdp.keys.source import load_keyring

    return load_keyring(settings).keyring


async def send_row(settings: Settings, database: Database, store: KeyStore, senders: int) -> Row:
    fake = FakeWechat()
    with LoopbackServer(fake.app(), lifespan="off") as server:
        wired = settings.model_copy(update={"wechat_api_base_url": server.url})
        keyring = KeyringSource.fixed(database_keyring(settings))  # type: ignore[arg-type]
        app = create_app(wired, database, keyring, store)
        token = issue_token(wired, role=Role.SERVICE, subject="bench-service")
        users = [WechatUser(union_id=None) for _ in range(senders)]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.bench",
            headers={"authorization": f"Bearer {token}"},
        ) as client:
            ids = []
            for user in users:
                answer = await client.post(
                    "/graphql",
                    json={
                        "query": LINK,
                        "variables": {
                            "input": {
                                "channel": "MINI_PROGRAM",
                                "appId": MINI_APP_ID,
                                "openId": user.open_id(MINI_APP_ID),
                            }
                        },
                    },
                )
                ids.append(answer.json()["data"]["linkIdentity"]["id"])
        conn = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
        try:
            rows = await conn.fetch(
                "SELECT id, public_id FROM profiles WHERE public_id = ANY($1)", ids
            )
            surrogate = [r["id"] for r in rows]
            now = datetime.now(UTC)
            await conn.executemany(
                "INSERT INTO consents (profile_id, purpose, channel, granted, updated_at) "
                "VALUES ($1, 'MARKETING', 'MINI_PROGRAM', true, $2)",
                [(i, now) for i in surrogate],
            )
            await conn.executemany(
                "INSERT INTO wechat_subscribe_grants (profile_id, app_id, open_id_bidx, "
                "template_id, available, choice, chosen_at, updated_at) "
                "VALUES ($1, $2, $3, $4, 1, 'accept', $5, $5)",
                [
                    (i, MINI_APP_ID, random.randbytes(32), TEMPLATES[TEMPLATE]["template_id"], now)
                    for i in surrogate
                ],
            )
            # The campaign's messages went to people seeded without a sealed OpenID: not these.
            await conn.execute("DELETE FROM outbox WHERE campaign_id IS NOT NULL")
        finally:
            await conn.close()
        for user in users:
            fake.messages.accept(
                MINI_APP_ID, user.open_id(MINI_APP_ID), str(TEMPLATES[TEMPLATE]["template_id"])
            )
        async with database.transaction() as session:
            await queue_messages(
                session=session,
                settings=wired,
                name=TEMPLATE,
                recipients=[
                    Recipient(i, f"bench-send:{i}", {"date": "2026-12-12"}) for i in surrogate
                ],
            )
        worker = ActivationWorker(wired, database, keyring, store)
        try:
            started = time.perf_counter()
            while await worker.worker.run_once():
                pass
            took = time.perf_counter() - started
        finally:
            await worker.aclose()
        sent = len(fake.messages.sent)
    return Row(
        f"sends to the fake WeChat (subscribe/send over loopback HTTP), {senders:,} messages",
        sent / took,
        "sends/s",
        "reported",
        None,
        detail=f"{sent:,} sent in {took:.1f} s; worker batch 100, 20 at once",
    )


async def run(quick: bool, output: Path) -> int:
    members, senders = (5_000, 200) if quick else (100_000, 2_000)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    cluster = PgCluster.start(bin_dir, durable=True)
    try:
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_bench_activation")
        apps = {MINI_APP_ID: {"type": "MINI_PROGRAM", "secret": MINI_SECRET}}
        with bench_settings(
            dsn,
            wechat_apps=apps,
            activation_templates=TEMPLATES,
            outbox_poll_seconds=0,
            outbox_batch_size=100,
            outbox_concurrency=20,
            contact_caps={},
        ) as (settings, _keyring):
            await asyncio.to_thread(upgrade_to_head, settings)
            await prepare_keystore(settings)
            started = time.perf_counter()
            await seed_members(dsn, members)
            print(f"bench: seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            database, store = Database(settings), KeyStore(settings)
            try:
                rows = await decision_rows(settings, database, members)
                rows.append(await send_row(settings, database, store, senders))
            finally:
                await database.dispose()
                await store.dispose()
    finally:
        cluster.stop()
    if quick:
        for row in rows:
            row.met = None
    print(write_section(output, SECTION, rows))
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, no targets")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.quick, args.output)))


if __name__ == "__main__":
    main()
