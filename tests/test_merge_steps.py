"""Every table that holds a person's rows is carried by a merge and cleared by an erasure: the
explicit list of merge steps and erasure's table list, checked against the models' metadata."""

from __future__ import annotations

import pytest

from cdp.erasure import purge
from cdp.linking.steps import MERGE_STEPS, NOT_MOVED
from cdp.models import metadata

WITH_PROFILE_ID = sorted(name for name, table in metadata.tables.items() if "profile_id" in table.c)
MOVED = [table for step in MERGE_STEPS for table in step.tables]
ERASED = {purge.table_of(m).name for m in (*purge.PURGED, *purge.KEPT)} | set(purge.SPECIAL)


@pytest.mark.parametrize("table", WITH_PROFILE_ID)
def test_every_table_with_a_profile_id_has_a_merge_step(table: str) -> None:
    assert table in MOVED or table in NOT_MOVED, (
        f"{table} holds a profile_id: add its merge step to cdp.linking.steps.MERGE_STEPS"
    )


@pytest.mark.parametrize("table", WITH_PROFILE_ID)
def test_every_table_with_a_profile_id_has_an_erasure_step(table: str) -> None:
    assert table in ERASED, f"{table} holds a profile_id: name it in cdp.erasure.purge"


def test_each_table_is_moved_by_one_step_and_each_step_is_named_once() -> None:
    assert len(MOVED) == len(set(MOVED))
    assert len({step.name for step in MERGE_STEPS}) == len(MERGE_STEPS)


def test_the_merge_steps_name_only_tables_that_exist() -> None:
    outside_the_database = {"data_keys"}  # the key store keeps them apart
    assert set(MOVED) - outside_the_database <= set(WITH_PROFILE_ID)
