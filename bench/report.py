"""The results table: one row per measure, printed and written to RESULTS.md with the machine,
the date and the commit."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent


@dataclass
class Row:
    measure: str
    value: float
    unit: str
    target: str
    met: bool | None
    detail: str = ""  # e.g. latencies next to a throughput


def table(rows: list[Row]) -> str:
    lines = ["| measure | result | target | met |", "| --- | --- | --- | --- |"]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**NO**")
        detail = f" ({r.detail})" if r.detail else ""
        lines.append(f"| {r.measure} | {r.value:,.2f} {r.unit}{detail} | {r.target} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        or "unknown"
    )
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}; commit {commit}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average at the end {load} (other work on the machine skews every figure)"
    )
