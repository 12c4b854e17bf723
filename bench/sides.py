"""Side-by-side load: servers measured in alternating rounds (A B, B A, ...) after a warm-up,
so drift from whatever else the machine does falls on both; medians of the rounds."""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import Result, Workload, run_load
from bench.servers import Server, cpu_seconds


@dataclass(frozen=True)
class Plan:
    seconds: float
    rounds: int
    connections: int
    wrk: str | None


@dataclass(frozen=True)
class Side:
    throughput: float  # median requests per second over the rounds
    p50_ms: float
    p99_ms: float
    results: tuple[Result, ...]
    cpu_ms: float = math.nan  # median over rounds of the server's CPU ms per request

    @property
    def latencies(self) -> str:
        cpu = "" if math.isnan(self.cpu_ms) else f", {self.cpu_ms:.1f} ms CPU per request"
        return f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms{cpu}"


def _side(results: list[Result], cpu_ms: Sequence[float] = ()) -> Side:
    return Side(
        throughput=statistics.median(r.per_second for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        results=tuple(results),
        cpu_ms=statistics.median(cpu_ms) if cpu_ms else math.nan,
    )


async def once(server: Server, workload: Workload, plan: Plan, seconds: float) -> Result:
    result = await asyncio.to_thread(
        run_load,
        workload,
        server.port,
        connections=plan.connections,
        seconds=seconds,
        wrk=plan.wrk,
    )
    if result.errors:
        raise RuntimeError(f"{server.name}: {result.errors} failed requests of {result.requests}")
    return result


async def rounds(contenders: Sequence[tuple[Server, Workload]], plan: Plan) -> list[Side]:
    """Each (server, workload)'s Side over `plan.rounds` rounds, taking turns in an order
    reversed every other round, after a warm-up of each."""
    for server, workload in contenders:
        await once(server, workload, plan, max(1.0, plan.seconds / 3))
    results: list[list[Result]] = [[] for _ in contenders]
    cpu: list[list[float]] = [[] for _ in contenders]
    for round_ in range(plan.rounds):
        order = list(range(len(contenders)))
        if round_ % 2:
            order.reverse()
        for i in order:
            server, workload = contenders[i]
            before = cpu_seconds(server)
            result = await once(server, workload, plan, plan.seconds)
            spent = cpu_seconds(server) - before
            results[i].append(result)
            if not math.isnan(spent) and result.requests:
                cpu[i].append(spent * 1000 / result.requests)
    return [_side(r, c) for r, c in zip(results, cpu, strict=True)]


def ratio(first: Side, second: Side) -> float:
    """The median over rounds of first/second throughput (each round's pair ran together)."""
    return statistics.median(
        a.per_second / max(b.per_second, 1e-9)
        for a, b in zip(first.results, second.results, strict=True)
    )


async def alternate(
    servers: Sequence[Server], workload: Workload, plan: Plan
) -> tuple[list[Side], float]:
    """Each server's Side, and the median over rounds of first/second throughput ratios."""
    sides = await rounds([(server, workload) for server in servers], plan)
    return sides, ratio(sides[0], sides[1])
