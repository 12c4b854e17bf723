"""Support's lookup by phone at two sizes, one request at a time: cdp's `profile(phone:)`
(blind index, decryption of the masked phone and name, audit record) against the hand-written
lookup endpoint (bench.handwritten_lookup) in alternating rounds, and cdp's p50 at each size."""

from __future__ import annotations

import random

from bench.customer import LOOKUP, body
from bench.databases import keystore_dsn
from bench.handwritten_lookup import lookup_body
from bench.load import Workload
from bench.phones import phone_of, seed_phones
from bench.report import Row
from bench.servers import Setup, answer, running
from bench.sides import Plan, ratio, rounds
from cdp.auth import Role

PICKS = 2000
PURPOSE = "bench: caller asks about an order"  # LOOKUP's


async def lookup_rows(setup: Setup, *, quick: bool, wrk: str | None) -> list[Row]:
    small, large = (1_000, 10_000) if quick else (10_000, 1_000_000)
    plan = Plan(2.0 if quick else 10.0, 1 if quick else 3, 1, wrk)
    token = setup.token(Role.SUPPORT, "bench-support")
    p50: dict[int, float] = {}
    rows: list[Row] = []
    specs = {"cdp": ("cdp", 1), "hand-written": ("handwritten", 1)}
    with running(specs, setup.environment) as servers:
        cdp, hand = servers["cdp"], servers["hand-written"]
        for size in (small, large):
            await seed_phones(
                setup.dsn, setup.keyring, upto=size, keys_dsn=keystore_dsn(setup.settings)
            )
            rng = random.Random(size)
            picks = tuple(phone_of(rng.randrange(size)) for _ in range(PICKS))
            workload = Workload(body(LOOKUP), token, picks)
            by_hand = Workload(lookup_body("@PICK@", PURPOSE), token, picks, path="/lookup")
            found = answer(cdp, workload)
            if "****" not in str(found) or found != answer(hand, by_hand):
                raise RuntimeError(f"the lookups do not find the same masked phone: {found}")
            ours, theirs = await rounds([(cdp, workload), (hand, by_hand)], plan)
            p50[size] = ours.p50_ms
            rows.append(
                Row(
                    f"support lookup by phone, {size:,} profiles, p50 (one connection)",
                    ours.p50_ms,
                    "ms",
                    "reported",
                    None,
                    f"p99 {ours.p99_ms:.1f} ms, {ours.throughput:,.0f} req/s; hand-written "
                    f"p50 {theirs.p50_ms:.1f} ms, {theirs.throughput:,.0f} req/s",
                )
            )
            share = ratio(ours, theirs)
            rows.append(
                Row(
                    f"support lookup throughput cdp / hand-written, {size:,} profiles",
                    share,
                    "×",
                    "≥ 0.8" if size == large else "—",
                    None if quick or size == small else share >= 0.8,
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
