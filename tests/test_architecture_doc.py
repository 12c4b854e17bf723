"""docs/ARCHITECTURE.md stays true: every module, package and test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
# `name.py`, `package/`, `package/module.py`, `tests/test_x.py` in backticks
NAMED = re.compile(r"`((?:[a-z0-9_]+/)*[a-z0-9_]+(?:\.py|/))`")


def named_paths() -> set[str]:
    return set(NAMED.findall(DOC.read_text(encoding="utf-8")))


def exists(name: str) -> bool:
    return any((base / name).exists() for base in (ROOT, ROOT / "cdp"))


def test_the_architecture_page_names_modules_that_exist() -> None:
    names = named_paths()
    assert len(names) > 40  # the pattern still finds what the page names
    missing = sorted(name for name in names if not exists(name))
    assert not missing, f"docs/ARCHITECTURE.md names what is not there: {missing}"


def test_the_architecture_page_places_every_package_of_cdp() -> None:
    packages = {p.name for p in (ROOT / "cdp").iterdir() if (p / "__init__.py").exists()}
    placed = {name.rstrip("/") for name in named_paths() if name.endswith("/")}
    assert not packages - placed, f"packages without a layer: {sorted(packages - placed)}"
