"""Side-by-side load: servers measured in alternating rounds (A B, B A, ...) after a warm-up,
so drift from whatever else the machine does falls on both; medians of the rounds."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import Result, Workload, run_load
from bench.servers import Server


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

    @property
    def latencies(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"


def _side(results: list[Result]) -> Side:
    return Side(
        throughput=statistics.median(r.per_second for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        results=tuple(results),
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


async def alternate(
    servers: Sequence[Server], workload: Workload, plan: Plan
) -> tuple[list[Side], float]:
    """Each server's Side, and the median over rounds of first/second throughput ratios."""
    for server in servers:
        await once(server, workload, plan, max(1.0, plan.seconds / 3))  # warm-up
    results: list[list[Result]] = [[] for _ in servers]
    ratios = []
    for round_ in range(plan.rounds):
        order = list(range(len(servers)))
        if round_ % 2:
            order.reverse()
        for i in order:
            results[i].append(await once(servers[i], workload, plan, plan.seconds))
        ratios.append(results[0][-1].per_second / max(results[1][-1].per_second, 1e-9))
    return [_side(r) for r in results], statistics.median(ratios)
