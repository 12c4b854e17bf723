"""`make bench-quick` runs end to end (a smoke test: no thresholds here)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.pg_cluster import find_bin_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL server binaries")
async def test_the_quick_benchmark_runs_and_writes_its_table(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.run",
        "--quick",
        "--output",
        str(output),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=420)
    assert process.returncode == 0, out.decode()[-2000:]
    report = output.read_text(encoding="utf-8")
    assert "| measure | result | target | met |" in report
    for measure in (
        "analytics retention",
        "erasure of one person",
        "demo-data",
        "support lookup by phone",
        "support lookup throughput cdp / hand-written",
        "`me` throughput generic path (query text) / hand-written",
        "`me` throughput trusted document (compiled) / PostGraphile",
        "`me` throughput generic path with execution.py's shortcut / stock executor",
        "auditing on / off",
        "--workers 2",
        "ingest: recordOrder",
        "ingest: recordEvents",
        "audited appends 16 / 1 writers (the database",
        "audited appends 16 / 1 writers (through cdp",
        "audit sealing lag p99",
    ):
        assert measure in report
    assert "commit" in report and "cores" in report


async def test_the_embedded_benchmark_runs_quick_and_writes_its_own_section(
    tmp_path: Path,
) -> None:
    output = tmp_path / "RESULTS.md"
    output.write_text("# Benchmark results\n\nthe head\n\n## Another\n\nkept\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.embedded", "--quick", "--output", str(output)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=420)
    assert process.returncode == 0, out.decode()[-2000:]
    report = output.read_text(encoding="utf-8")
    assert "## The embedded default (SQLite) under concurrent use" in report
    assert "`me` on SQLite: p99 / p50" in report and "failed requests" in report
    assert "the head" in report and "## Another\n\nkept" in report
