"""Debian packages the suite needs when a machine starts without them (CI's do): found where
the package puts its binary, or installed with apt-get when the suite runs as root."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path


def apt_get(*args: str, timeout: int = 900) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            ["apt-get", *args], env=env, capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_or_install(package: str, found: Callable[[], str | None]) -> tuple[str | None, str]:
    """`found()`'s binary, installing `package` first when it is missing: (path, how), or
    (None, why not)."""
    path = found()
    if path:
        return path, "found"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, f"{package} is not installed and apt-get cannot run here (not root?)"
    lock_path = Path(tempfile.gettempdir()) / f"cdp-{package}-install.lock"
    # Two test workers may get here at once: one installs, the other waits and finds it.
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not found() and not apt_get("install", "-y", "-q", package):
            apt_get("update", "-q")  # a stale package list
            apt_get("install", "-y", "-q", package)
    path = found()
    return (path, "installed") if path else (None, f"apt-get install {package} failed")
