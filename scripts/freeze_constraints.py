"""Print constraints.txt: the exact version installed of every package cdp needs, its dev
extra included, followed through their requirements (what `pip freeze` shows, less whatever
else the environment holds).

    .venv/bin/python scripts/freeze_constraints.py > constraints.txt
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from packaging.requirements import Requirement

HEADER = """\
# Exact versions of cdp's dependencies (dev extra included) as tested; every install reads it:
#   pip install -c constraints.txt -e '.[dev]'     (make install, make test, make run, .ci/run)
# Regenerate after changing a dependency in pyproject.toml and running the suite on the result:
#   .venv/bin/python -m pip install -U -e '.[dev]'
#   .venv/bin/python scripts/freeze_constraints.py > constraints.txt
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(root: str = "cdp", extras: tuple[str, ...] = ("dev",)) -> dict[str, str]:
    """name -> installed version, for every package `root[extras]` needs, transitively."""
    found: dict[str, str] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    pending: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    while pending:
        name, wanted = pending.pop()
        distribution = metadata.distribution(name)
        for line in distribution.requires or ():
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in (wanted or ("",))
            ):
                continue
            key = canonical(requirement.name)
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                continue  # a platform's requirement this environment does not need
            found[key] = version
            step = (key, tuple(sorted(requirement.extras)))
            if step not in seen:
                seen.add(step)
                pending.append((requirement.name, step[1]))
    found.pop(canonical(root), None)
    return found


def main() -> None:
    sys.stdout.write(HEADER)
    for name, version in sorted(pinned().items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()
