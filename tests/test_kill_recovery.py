"""A process killed with SIGKILL in the middle of a key rotation or an erasure: rerunning
converges, with nothing lost and nothing of the erased person left (both databases)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from cdp.auth import Role
from cdp.channels import Channel
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.erasure.execution import STEPS
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.profiles import service
from tests.conftest import (
    KEYSTORES,
    TEST_JWT_SECRET,
    TEST_KEYRING,
    TEST_KEYRING_PATH,
    ClientFactory,
    audited,
)
from tests.support.erasure_calls import (
    APPROVE,
    assert_found_nowhere,
    officer,
    request_erasure,
    snapshot,
)
from tests.support.erasure_people import Person, ok
from tests.support.erasure_storage import (
    ERASURE_ACTIONS,
    assert_nothing_stored,
    audit_rows,
    expected_purge,
    internal_id,
    is_erasure,
    rows_of,
    select_all,
    table,
)
from tests.support.people import read_all
from tests.support.sealing import sealed_verdict

pytestmark = pytest.mark.slow
REWRAPS = "{ auditEvents(first: 1, action: KEY_REWRAP) { items { seq } } }"


def cdp_env(database_url: str, keyring: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        CDP_DATABASE_URL=database_url, CDP_JWT_SECRET=TEST_JWT_SECRET, CDP_KEYRING=str(keyring)
    )
    if database_url in KEYSTORES:
        env["CDP_KEYSTORE_URL"] = KEYSTORES[database_url]
    return env


async def cdp(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, out.decode()
    return out.decode()


def pending_of(status: str) -> int:
    found = re.search(r"pending rewrap: (\d+)", status)
    assert found, status
    return int(found.group(1))


# --- key rotation ------------------------------------------------------------------------------


async def seed_people(database: Database, keystore: KeyStore, n: int) -> list[str]:
    """`n` people with a phone and a name each: `n` data keys."""
    vault = Vault(KeyringSource.fixed(TEST_KEYRING), keystore)
    ids: list[str] = []
    async with audited(database) as session:
        for i in range(n):
            outcome = await link_identity(
                session=session,
                vault=vault,
                settings=database.settings,
                channel=Channel.WEB,
                app_id="wxweb",
                open_id=f"oKilledRotation{i:012d}",
            )
            await service.update_personal_fields(
                session=session,
                vault=vault,
                profile=outcome.profile,
                phone=f"139{i:08d}",
                name=f"孙{i}",
            )
            ids.append(outcome.profile.public_id)
    return ids


async def test_a_key_rotation_killed_midway_resumes_and_every_value_decrypts(
    database: Database,
    keystore: KeyStore,
    database_url: str,
    client_for: ClientFactory,
    tmp_path: Path,
) -> None:
    ids = await seed_people(database, keystore, 400)
    before = await read_all(database, keystore, TEST_KEYRING, ids)
    keyring_path = tmp_path / "keyring.json"
    TEST_KEYRING.save(keyring_path)
    env = cdp_env(database_url, keyring_path)
    rotating = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        "keys",
        "rotate",
        "--batch-size",
        "1",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    compliance = client_for(Role.COMPLIANCE)
    # Killed as soon as the first batch is in the audit log: mid-way through the rewrap.
    for _ in range(1200):
        body = (await compliance.post("/graphql", json={"query": REWRAPS})).json()
        if body["data"]["auditEvents"]["items"]:
            break
        assert rotating.returncode is None, "the rotation ended before it could be killed"
        await asyncio.sleep(0.05)
    rotating.send_signal(signal.SIGKILL)
    await rotating.wait()

    pending = pending_of(await cdp(env, "keys", "status"))
    assert 0 < pending < len(ids), "killed mid-way: some data keys rewrapped, some not"
    resumed = await cdp(env, "keys", "rotate")
    assert f"resuming: {pending} data keys still to rewrap" in resumed
    assert "added KEK version" not in resumed, "the rerun finishes the rotation it found"
    status = await cdp(env, "keys", "status")
    assert "active KEK version 2" in status and pending_of(status) == 0, status
    assert f"v2: {len(ids)} data keys" in status, status
    # With the old version gone, only a completed rewrap leaves anything readable.
    rotated = Keyring.load(keyring_path)
    only_new = replace(rotated, keks={2: rotated.keks[2]})
    assert await read_all(database, keystore, only_new, ids) == before


# --- erasure -----------------------------------------------------------------------------------

# The execution as approveErasure runs it, in a process of its own that stops dead at a
# given point: `before` a step (the ones before it committed) or `inside` it (its work done,
# its transaction not committed). The parent kills it there.
CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from cdp.audit.trail import AuditTrail
    from cdp.auth import Principal, Role
    from cdp.config import load_settings
    from cdp.db import Database
    from cdp.erasure import service
    from cdp.erasure.execution import STEPS, execute_erasure
    from cdp.keys.source import load_keyring
    from cdp.keys.store import KeyStore
    from cdp.unit_of_work import audited_transaction

    public_id, where, step = sys.argv[1], sys.argv[2], sys.argv[3]
    settings = load_settings()
    keyring = load_keyring(settings, create_in_development=False)
    officer = Principal("officer-b", Role.COMPLIANCE)

    def stop_here():
        print("stopped", flush=True)
        time.sleep(3600)

    class Trail(AuditTrail):
        def record(self, **record):
            super().record(**record)
            action = "erasure.execute" if step == "complete" else f"erasure.{step}"
            if where == "inside" and record["action"] == action:
                stop_here()

    def officer_trail():
        return Trail(key=keyring.keyring.audit_key, actor_subject="officer-b",
                     actor_role="compliance")

    def trail(calls=[]):  # called as each step's transaction begins
        calls.append(1)
        if where == "before" and len(calls) == STEPS.index(step) + 1:
            stop_here()
        return officer_trail()

    async def main():
        database = Database(settings)
        async with audited_transaction(database, officer_trail()) as session:
            approved = await service.approve_erasure(
                session=session, actor=officer, request_id=public_id)
        await execute_erasure(
            database, keyring, keystore=KeyStore(settings), request_id=approved.id, trail=trail)

    asyncio.run(main())
    print("completed", flush=True)
    """
)
KILLS = [("inside", "collect"), ("inside", "shred"), ("before", "purge"), ("inside", "purge")]
KILLS += [("before", "verify"), ("inside", "complete")]


def previous(step: str) -> str:
    index = STEPS.index(step)
    return STEPS[index - 1] if index else "requested"


@pytest.mark.parametrize(("where", "step"), KILLS)
async def test_an_erasure_killed_midway_resumes_on_approval_and_leaves_nothing(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    database_url: str,
    settings: Settings,
    backend: str,
    where: str,
    step: str,
) -> None:
    anna, bystander = people
    profile_id = await internal_id(database, anna.id)
    seeded = await rows_of(database, profile_id)
    seen_bystander = await snapshot(bystander)
    opened = await request_erasure(officer(client_for, "a"), anna.id, "DELETE")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        opened["id"],
        where,
        step,
        env=cdp_env(database_url, TEST_KEYRING_PATH),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=120)
    assert line == b"stopped\n", line + await child.stdout.read()
    child.send_signal(signal.SIGKILL)
    await child.wait()
    [stuck] = await select_all(
        database, "erasure_requests", table("erasure_requests").c.public_id == opened["id"]
    )
    assert (str(stuck["status"]), stuck["step"]) == ("EXECUTING", previous(step))

    done = await ok(officer(client_for, "c"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED" and done["step"] == "COMPLETE"
    receipt = done["receipt"]
    assert list(receipt) == list(STEPS)
    assert receipt["verify"]["clean"] is True
    # The key store commits on its own: a shred killed after destroying the keys left none
    # for the rerun to count (they are gone either way, as the scan checks).
    shredded = 0 if (where, step) == ("inside", "shred") else seeded["data_keys"]
    assert receipt["shred"] == {"data_keys": shredded}
    assert receipt["purge"] == expected_purge(seeded, "DELETE")
    assert (receipt["complete"]["requestedBy"], receipt["complete"]["approvedBy"]) == (
        "officer-a",
        "officer-b",
    )
    await assert_nothing_stored(database, settings, backend, anna, profile_id)
    await assert_found_nowhere(client_for, anna)
    assert await snapshot(bystander) == seen_bystander
    # Each step recorded once: the killed transaction's record went with it.
    actions = [r["action"] for r in await audit_rows(database) if is_erasure(r)]
    assert [a for a in actions if a != "erasure.resume"] == ERASURE_ACTIONS
    assert actions.count("erasure.resume") == 1
    assert (await sealed_verdict(database)).intact
