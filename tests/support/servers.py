"""Running the cdp command line in a subprocess."""

from __future__ import annotations

import subprocess
import sys

CDP = [sys.executable, "-m", "cdp"]


def run_cdp(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*CDP, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"cdp {' '.join(args)}: {done.stderr}"
    return done.stdout
