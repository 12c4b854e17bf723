"""The `cdp` command as an operator runs it: a real process with CDP_ environment."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import sqlalchemy as sa

from cdp.auth import Role, verify_token
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.profiles.models import Identity, Profile
from cdp.profiles.personal import PROFILE_FIELDS, read_field, read_open_id
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH, make_settings

CDP = [sys.executable, "-m", "cdp"]
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


async def run_cdp(*args: str, database_url: str, **extra: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        **({"CDP_KEYSTORE_URL": KEYSTORES[database_url]} if database_url in KEYSTORES else {}),
        **extra,
    }
    process = await asyncio.create_subprocess_exec(
        *CDP, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_demo_data_seeds_realistic_people_seen_in_several_apps(
    database_url: str, database: Database, vault: Vault
) -> None:
    code, out, _ = await run_cdp("demo-data", "--profiles", "40", database_url=database_url)
    assert code == 0, out
    assert "seeded 40 profiles" in out
    async with database.transaction() as session:
        profiles = (await session.scalars(sa.select(Profile))).all()
        identities = (await session.scalars(sa.select(Identity))).all()
        people = [
            {
                field: await read_field(session=session, vault=vault, profile=p, field=field)
                for field in PROFILE_FIELDS
            }
            for p in profiles
        ]
        open_ids = [
            await read_open_id(session=session, vault=vault, identity=i) for i in identities
        ]
    assert len(profiles) == 40
    per_profile = {p.id: 0 for p in profiles}
    for identity in identities:
        per_profile[identity.profile_id] += 1
    assert min(per_profile.values()) >= 2
    for person in people:
        assert person["union_id"] and len(person["union_id"]) == 29
        assert person["phone"] and re.fullmatch(r"\+861[3-9]\d{9}", person["phone"])
        assert person["name"] and all("\u4e00" <= ch <= "\u9fff" for ch in person["name"])
        assert person["address"].city.endswith("市") and person["address"].street
        assert person["birthday"] is not None
    assert all(len(o) == 28 and o.startswith("o") for o in open_ids)


async def test_demo_data_if_empty_leaves_a_seeded_database_alone(
    database_url: str, database: Database
) -> None:
    await run_cdp("demo-data", "--profiles", "5", database_url=database_url)
    code, out, _ = await run_cdp(
        "demo-data", "--profiles", "5", "--if-empty", database_url=database_url
    )
    assert code == 0 and "nothing to seed" in out
    async with database.transaction() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(Profile))) == 5


async def test_demo_tokens_prints_one_token_per_role_and_the_customer_is_a_real_profile(
    database_url: str, database: Database
) -> None:
    await run_cdp("demo-data", "--profiles", "3", database_url=database_url)
    code, out, _ = await run_cdp("demo-tokens", database_url=database_url)
    assert code == 0
    settings = make_settings(database_url)
    tokens = dict(re.findall(r"^\s+(\w+)\s+(\S+\.\S+\.\S+)$", out, flags=re.M))
    assert set(tokens) == {role.value for role in Role}
    customer = verify_token(settings, tokens["customer"])
    async with database.transaction() as session:
        first = await session.scalar(sa.select(Profile.public_id).order_by(Profile.id).limit(1))
    assert customer.subject == first
    # `make run` says where the staff console is and how to sign in locally in each role.
    assert "http://127.0.0.1:8000/console/" in out and "/auth/staff/dev" in out


async def test_export_schema_prints_the_committed_sdl(database_url: str) -> None:
    code, out, _ = await run_cdp("export-schema", database_url=database_url)
    assert code == 0
    assert out == SCHEMA_FILE.read_text(encoding="utf-8")


async def test_bad_configuration_stops_with_one_clear_line(database_url: str) -> None:
    code, _out, err = await run_cdp("migrate", database_url="mysql://nope")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("cdp: bad configuration: CDP_DATABASE_URL")


async def test_demo_commands_refuse_production_with_one_line_and_touch_nothing(
    database_url: str, database: Database
) -> None:
    for args in (("demo-data", "--profiles", "3"), ("demo-tokens",)):
        code, out, err = await run_cdp(*args, database_url=database_url, CDP_ENV="production")
        assert code == 2, (args, out, err)
        assert out == ""
        assert err.strip().count("\n") == 0, err
        assert err.startswith(f"cdp: {args[0]} is for development only") and "production" in err
    async with database.transaction() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(Profile))) == 0
