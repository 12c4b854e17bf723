"""The results table: one row per measure, printed and written to RESULTS.md with the machine,
the date and the commit. `bench.run` writes the file's head (its table); each bench of its own
(`bench.audiences`, `bench.activation`, `bench.analytics`) replaces its "## " section alone,
and every other section is kept as it was."""

from __future__ import annotations

import math
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
    value: float  # NaN: not measured (the detail says why), shown as "unavailable"
    unit: str
    target: str
    met: bool | None
    detail: str = ""  # e.g. latencies next to a throughput


def table(rows: list[Row]) -> str:
    lines = ["| measure | result | target | met |", "| --- | --- | --- | --- |"]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**NO**")
        detail = f" ({r.detail})" if r.detail else ""
        if math.isnan(r.value):
            result = r.detail or "unavailable"
        else:
            result = f"{r.value:,.2f} {r.unit}{detail}"
        lines.append(f"| {r.measure} | {result} | {r.target} | {met} |")
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


def _sections(text: str) -> tuple[str, dict[str, str]]:
    """The text before the first "## " heading, and each section by its heading line."""
    head, *parts = ("\n" + text).split("\n## ")
    return head.strip("\n"), {
        "## " + part.split("\n", 1)[0]: "## " + part.rstrip("\n") for part in parts
    }


def write_section(output: Path, heading: str, rows: list[Row], note: str = "") -> str:
    """Replace (or add) the section `heading` of `output` with `rows`; the others stay."""
    body = f"{heading}\n\n{machine()}\n\n" + (f"{note}\n\n" if note else "") + table(rows)
    text = output.read_text(encoding="utf-8") if output.exists() else "# Benchmark results\n"
    head, sections = _sections(text)
    sections[heading] = body
    output.write_text("\n\n".join([head, *sections.values()]) + "\n", encoding="utf-8")
    return body


def write_head(output: Path, head: str) -> None:
    """Replace the text before the first section (`bench.run`'s table); the sections stay."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    _, sections = _sections(text)
    output.write_text("\n\n".join([head.strip("\n"), *sections.values()]) + "\n", encoding="utf-8")
