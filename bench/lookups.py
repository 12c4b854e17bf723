"""Support's lookup by phone at two sizes: p50 latency of `profile(phone:)` (blind index,
decryption of the masked phone and name, audit record), one request at a time."""

from __future__ import annotations

import random

from bench.customer import LOOKUP, body
from bench.databases import keystore_dsn
from bench.load import Workload
from bench.phones import phone_of, seed_phones
from bench.report import Row
from bench.servers import running
from bench.serving import Setup, answer
from bench.sides import Plan, once
from cdp.auth import Role

PICKS = 2000


async def lookup_rows(setup: Setup, *, quick: bool, wrk: str | None) -> list[Row]:
    small, large = (1_000, 10_000) if quick else (10_000, 1_000_000)
    plan = Plan(2.0 if quick else 10.0, 1, 1, wrk)
    token = setup.token(Role.SUPPORT, "bench-support")
    p50: dict[int, float] = {}
    rows: list[Row] = []
    with running({"cdp": ("cdp", 1)}, setup.environment) as servers:
        cdp = servers["cdp"]
        for size in (small, large):
            await seed_phones(
                setup.dsn, setup.keyring, upto=size, keys_dsn=keystore_dsn(setup.settings)
            )
            rng = random.Random(size)
            workload = Workload(
                body(LOOKUP), token, tuple(phone_of(rng.randrange(size)) for _ in range(PICKS))
            )
            found = answer(cdp, workload)
            if not str(found).count("****"):
                raise RuntimeError(f"the lookup did not find a masked phone: {found}")
            await once(cdp, workload, plan, max(1.0, plan.seconds / 3))  # warm-up
            result = await once(cdp, workload, plan, plan.seconds)
            p50[size] = result.p50_ms
            rows.append(
                Row(
                    f"support lookup by phone, {size:,} profiles, p50 (one connection)",
                    result.p50_ms,
                    "ms",
                    "≤ 5 ms" if size == large else "—",
                    None if quick or size == small else result.p50_ms <= 5,
                    f"p99 {result.p99_ms:.1f} ms, {result.per_second:,.0f} req/s",
                )
            )
    growth = p50[large] / max(p50[small], 1e-9)
    rows.append(
        Row(
            f"support lookup p50 at {large:,} / at {small:,} profiles",
            growth,
            "×",
            "≤ 1.5",
            None if quick else growth <= 1.5,
        )
    )
    return rows
