"""The versions of strawberry-graphql and graphql-core that cdp/graphql/execution.py's private
shortcuts were tested with (pyproject.toml pins the same ranges; constraints.txt the exact
versions). Outside them the shortcuts stay off, loudly."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

log = logging.getLogger("cdp.graphql")
TESTED: Mapping[str, SpecifierSet] = {
    "strawberry-graphql": SpecifierSet(">=0.341.2,<0.342"),
    "graphql-core": SpecifierSet(">=3.3.2,<3.4"),
}


def installed() -> dict[str, str]:
    """The installed version of each package of TESTED."""
    return {name: metadata.version(name) for name in TESTED}


def untested(versions: Mapping[str, str]) -> list[str]:
    """`name version (tested: range)` for each of `versions` outside its tested range."""
    outside = []
    for name, tested in TESTED.items():
        given = versions.get(name, "unknown")
        try:
            fits = Version(given) in tested
        except InvalidVersion:
            fits = False
        if not fits:
            outside.append(f"{name} {given} (tested: {tested})")
    return outside


@cache
def shortcuts_allowed() -> bool:
    """Whether the installed versions are the tested ones; logs one warning line (once per
    process) when they are not."""
    outside = untested(installed())
    if outside:
        log.warning(
            "UNTESTED GraphQL libraries: %s; serving with graphql-core's stock executor and"
            " validation (slower, no overlap-comparison budget) until cdp is tested with them",
            "; ".join(outside),
        )
    return not outside
