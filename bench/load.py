"""Load from a separate process: wrk (Debian's, with a Lua script for POST bodies and latency
percentiles) when it can be found or installed, else `bench.loadgen` (raw asyncio).

A workload is one JSON body template: `@N@` becomes a counter unique within the run (new
order and event ids), `@PICK@` a random entry of `picks` (phone numbers to look up).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Workload:
    template: str
    authorization: str  # the header's value; empty: no Authorization header
    picks: tuple[str, ...] = ()
    path: str = "/graphql"


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    tool: str = field(default="wrk", compare=False)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk(install: bool) -> str | None:
    """wrk on PATH; as root with `install`, `apt-get install -y wrk` first when missing."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("bench: installing wrk (apt-get install -y wrk)", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    """A Lua long string: raw UTF-8, no escapes (LuaJIT knows no \\u escapes)."""
    assert "]==]" not in text and not text.startswith("\n")
    return f"[==[{text}]==]"


def _lua(workload: Workload, prefix: str) -> str:
    dynamic = "@N@" in workload.template or "@PICK@" in workload.template
    picks = ",".join(json.dumps(p) for p in workload.picks)
    request = f"""
local template = {_lua_string(workload.template)}
local picks = {{{picks}}}
local n = 0
request = function()
  n = n + 1
  local body = template:gsub("@N@", "{prefix}" .. tid .. "-" .. n)
  if #picks > 0 then body = body:gsub("@PICK@", picks[math.random(#picks)]) end
  return wrk.format(nil, nil, nil, body)
end
"""
    authorization = (
        f'wrk.headers["Authorization"] = {_lua_string(workload.authorization)}'
        if workload.authorization
        else ""
    )
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{authorization}
wrk.body = {_lua_string(workload.template)}
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
init = function(args)
  math.randomseed(os.time() + (tid or 0))
end
{request if dynamic else ""}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"seconds":%f,"errors":%d,"p50_ms":%f,"p99_ms":%f}}\\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def run_load(
    workload: Workload,
    port: int,
    *,
    connections: int,
    seconds: float,
    wrk: str | None,
    threads: int = 1,
) -> Result:
    """Drive `http://127.0.0.1:port` for `seconds` with `connections` keep-alive connections."""
    prefix = secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as tmp:
        if wrk is not None:
            script = Path(tmp) / "load.lua"
            script.write_text(_lua(workload, prefix), encoding="utf-8")
            command = [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}{workload.path}",
            ]
        else:
            spec = Path(tmp) / "load.json"
            spec.write_text(
                json.dumps(
                    {
                        "host": "127.0.0.1",
                        "port": port,
                        "path": workload.path,
                        "authorization": workload.authorization,
                        "template": workload.template,
                        "picks": list(workload.picks),
                        "prefix": prefix,
                        "connections": connections,
                        "seconds": seconds,
                    }
                ),
                encoding="utf-8",
            )
            command = [sys.executable, "-m", "bench.loadgen", str(spec)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith(("WRKJSON ", "{"))),
        None,
    )
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"load generator failed: {done.stderr[-1000:] or done.stdout[-1000:]}")
    values = json.loads(line.removeprefix("WRKJSON "))
    return Result(**values, tool="wrk" if wrk else "bench.loadgen")
