"""The project's Citus build (scripts/build-citus.sh): its patch still applies to the vendored
release, guarding the one definition that newer PostgreSQL 15 headers declare themselves."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.citus import PROJECT_BUILD_SCRIPT, find_build_script

PATCH = PROJECT_BUILD_SCRIPT.parent / "citus" / "13.2.2-pg15-have-createdb-privilege.patch"
HEADER = "citus-13.2.2/src/include/pg_version_compat.h"


def _vendored_header(tmp_path: Path) -> Path:
    vendor = find_build_script()
    if vendor is None:
        pytest.skip("no ../shared/vendor beside the repository")
    with tarfile.open(vendor.parent / "citus-13.2.2.tar.gz") as release:
        release.extract(HEADER, tmp_path, filter="data")
    return tmp_path / "citus-13.2.2"


def test_the_patch_applies_to_the_vendored_release(tmp_path: Path) -> None:
    source = _vendored_header(tmp_path)
    subprocess.run(
        ["patch", "-p1", "--forward", "--quiet", "-i", str(PATCH)], cwd=source, check=True
    )
    header = (source / "src/include/pg_version_compat.h").read_text()
    guarded = header.split("#ifndef CITUS_PG_HAS_CREATEDB_PRIVILEGE", 1)[1].split("#endif", 1)[0]
    assert "have_createdb_privilege(void)" in guarded
    assert header.count("have_createdb_privilege(void)") == 1
