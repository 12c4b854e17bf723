"""The fallback load generator when wrk is missing: `python -m bench.loadgen SPEC.json`.

A separate process holding keep-alive HTTP/1.1 connections on raw asyncio streams (lighter
than an HTTP client library, so the servers get the CPU). Bodies are made as in the wrk
script: `@N@` becomes a unique counter, `@PICK@` cycles through `picks`. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any


def body_of(spec: dict[str, Any], n: int) -> bytes:
    text = str(spec["template"]).replace("@N@", f"{spec['prefix']}{n}")
    picks = spec.get("picks") or []
    if picks:
        text = text.replace("@PICK@", picks[random.randrange(len(picks))])
    return text.encode()


async def connection(spec: dict[str, Any], until: float, counter: list[int], out: dict[str, Any]):  # type: ignore[no-untyped-def]
    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
    authorization = spec["authorization"]
    head = (
        f"POST {spec['path']} HTTP/1.1\r\nHost: {spec['host']}\r\n"
        "Content-Type: application/json\r\n"
        + (f"Authorization: {authorization}\r\n" if authorization else "")
    )
    try:
        while time.perf_counter() < until:
            counter[0] += 1
            body = body_of(spec, counter[0])
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            out["latencies"].append(time.perf_counter() - started)
            if status != 200:
                out["errors"] += 1
    finally:
        writer.close()


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "errors": 0}
    started = time.perf_counter()
    until = started + float(spec["seconds"])
    await asyncio.gather(
        *(connection(spec, until, [i * 10_000_000], out) for i in range(spec["connections"]))
    )
    elapsed = time.perf_counter() - started
    latencies = sorted(out["latencies"]) or [0.0]

    def pct(p: float) -> float:
        return float(latencies[min(len(latencies) - 1, int(len(latencies) * p))]) * 1000

    return {
        "requests": len(out["latencies"]),
        "seconds": elapsed,
        "errors": out["errors"],
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        given = json.load(handle)
    print(json.dumps(asyncio.run(main(given))))
