"""The README's GraphQL examples run as written, as a new user runs them after `make run`: on
fresh demo data (the default 1,000 people and seed, seeded by `cdp demo-data`), with the tokens
`cdp demo-tokens` prints, each block alone and in any order, answering what its comment says.

A block opens with `# role` or `# role: claims`; a claim is `field <JSON literal>` (`phone
"138****5678"`, `allowed true`, `totalFen 6400`) and holds when the answer has that field with
that value somewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import graphql
import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role
from cdp.demo.known import KNOWN_PEOPLE
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING, TEST_KEYRING_PATH, make_settings

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```graphql\n(.*?)^```$", re.M | re.S)
ROLE = re.compile(r"\A#\s*(\w+)\s*(?::(.*))?$", re.M)
CLAIM = re.compile(r'(\w+) ("(?:[^"\\]|\\.)*"|-?\d+|true|false|null)')
RANGE = re.compile(r'from: "(\d{4}-\d\d-\d\d)", to: "(\d{4}-\d\d-\d\d)"')
DEMO_SPAN = timedelta(days=366)  # first sight within the past year (cdp.demo.activity)


@dataclass(frozen=True)
class Block:
    line: int
    role: Role
    document: str
    claims: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.role.value})"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for found in BLOCK.finditer(text):
        document = found.group(1)
        line = text.count("\n", 0, found.start()) + 1
        heading = ROLE.match(document)
        assert heading, f"README.md:{line}: a graphql block opens with `# role`"
        claims = tuple((k, json.loads(v)) for k, v in CLAIM.findall(heading.group(2) or ""))
        blocks.append(Block(line, Role(heading.group(1)), document, claims))
    return blocks


def cdp(*args: str, database_url: str) -> str:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
    }
    command = [sys.executable, "-m", "cdp", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Demo:
    path: Path
    tokens: dict[Role, str]
    printed: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Demo:
    """A migrated database seeded as `make run` seeds it, and what `cdp demo-tokens` prints."""
    path = tmp_path_factory.mktemp("readme") / "seeded.db"
    shutil.copyfile(sqlite_template, path)  # `cdp migrate`
    url = f"sqlite+aiosqlite:///{path}"
    cdp("demo-data", "--if-empty", database_url=url)
    printed = cdp("demo-tokens", database_url=url)
    tokens = dict(re.findall(r"^\s+(\w+)\s+(\S+\.\S+\.\S+)$", printed, flags=re.M))
    return Demo(path, {role: tokens[role.value] for role in Role}, printed)


def fresh_copy(demo: Demo, tmp_path: Path) -> str:
    path = tmp_path / "cdp.db"
    shutil.copyfile(demo.path, path)
    return f"sqlite+aiosqlite:///{path}"


def values_of(data: Any, field: str) -> Iterator[Any]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == field:
                yield value
            yield from values_of(value, field)
    elif isinstance(data, list):
        for item in data:
            yield from values_of(item, field)


def cells_of(data: Any) -> list[dict[str, Any]]:
    return [cell for cells in values_of(data, "cells") for cell in cells]


def check_answer(block: Block, body: dict[str, Any]) -> None:
    assert "errors" not in body, f"{block}: {body['errors']}"
    data = body["data"]
    for field, expected in block.claims:
        seen = list(values_of(data, field))
        assert expected in seen, f"{block}: {field} is {seen}, the README says {expected!r}"
    if block.role is Role.ANALYST:
        for name, measure in data["analytics"].items():
            if isinstance(measure, list) and measure and "starts" in measure[0]:
                # A series: months before the demo, and months not over, show nothing; the
                # demo's released months show every bucket.
                shown = [p for p in measure if p["released"] and p["cells"]]
                assert shown, f"{block}: {name} shows no period"
                visible = [c for p in shown for c in p["cells"] if not c["suppressed"]]
                assert visible, f"{block}: {name} shows nothing on the demo data"
                continue
            items = measure["cells"] if isinstance(measure, dict) else measure
            assert items, f"{block}: {name} has no cells"
            hidden = [c for c in items if c["suppressed"]]
            assert not hidden, f"{block}: {name} suppresses {hidden} on the demo data"
    if "earnPoints" in data:
        assert data["earnPoints"]["balanceAfter"] >= data["earnPoints"]["points"] == 64


async def run_blocks(demo: Demo, database_url: str, blocks: list[Block]) -> None:
    app = create_app(make_settings(database_url), keyring=KeyringSource.fixed(TEST_KEYRING))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        for block in blocks:
            reply = await http.post(
                "/graphql",
                json={"query": block.document},
                headers={"authorization": f"Bearer {demo.tokens[block.role]}"},
            )
            assert reply.status_code == 200, f"{block}: HTTP {reply.status_code} {reply.text}"
            check_answer(block, reply.json())


def test_every_graphql_block_of_the_readme_is_one_operation_for_a_named_role() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 10
    assert {b.role for b in blocks} == set(Role)
    for block in blocks:
        document = graphql.parse(block.document)
        operations = [
            d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)
        ]
        assert len(operations) == 1, f"{block}: {len(operations)} operations; GraphiQL wants one"


def test_the_readme_analytics_ranges_cover_the_demos_past_year_as_of_today() -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    ranges = [
        r for b in readme_blocks() if b.role is Role.ANALYST for r in RANGE.findall(b.document)
    ]
    assert ranges
    for start, end in ranges:
        assert date.fromisoformat(start) <= today - DEMO_SPAN, (
            f"from {start} misses demo data seeded today (it begins {today - DEMO_SPAN})"
        )
        assert date.fromisoformat(end) >= today, f"to {end} misses demo data seeded today"


@pytest.mark.parametrize("order", ["as-written", "reversed", "each-alone"])
async def test_every_graphql_block_of_the_readme_runs_as_written_on_fresh_demo_data(
    demo: Demo, tmp_path: Path, order: str
) -> None:
    blocks = readme_blocks()
    if order == "each-alone":
        for n, block in enumerate(blocks):
            (tmp_path / str(n)).mkdir()
            await run_blocks(demo, fresh_copy(demo, tmp_path / str(n)), [block])
        return
    await run_blocks(
        demo, fresh_copy(demo, tmp_path), blocks[::-1] if order == "reversed" else blocks
    )


def test_demo_tokens_print_the_documented_people_the_examples_use(demo: Demo) -> None:
    text = README.read_text(encoding="utf-8")
    for person in KNOWN_PEOPLE:
        line = next(x for x in demo.printed.splitlines() if person.public_id in x)
        assert person.phone in line and person.union_id in line and person.name in line
        assert f"| {person.name} | `{person.public_id}` | {person.phone} |" in text


def test_every_setting_has_a_row_in_the_readmes_configuration_table() -> None:
    from cdp.config import Settings

    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Configuration") : text.index("## The `cdp` command")]
    missing = [
        f"CDP_{name.upper()}"
        for name in Settings.model_fields
        if f"`CDP_{name.upper()}`" not in table
    ]
    assert not missing, f"settings without a row in the README's configuration table: {missing}"


async def test_the_readmes_mini_program_document_registers_under_its_id_and_runs_by_it(
    demo: Demo, tmp_path: Path
) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Trusted documents") : text.index("## One example per role")]
    block = next(b for b in readme_blocks() if b.document in section)
    source = tmp_path / "home.graphql"
    source.write_text(block.document, encoding="utf-8")
    database_url = fresh_copy(demo, tmp_path)
    printed = cdp(
        "documents", "register", str(source), "--role", "customer", database_url=database_url
    )
    shown = re.search(r"^# -> (.*)$", section, re.M)
    assert shown and printed.strip() == shown.group(1), printed
    document_id = shown.group(1).split("\t")[0]
    assert f'documentId: "{document_id}"' in section
    app = create_app(make_settings(database_url), keyring=KeyringSource.fixed(TEST_KEYRING))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        reply = await http.post(
            "/graphql",
            json={"documentId": document_id, "variables": {}},
            headers={"authorization": f"Bearer {demo.tokens[block.role]}"},
        )
    assert reply.status_code == 200, reply.text
    check_answer(block, reply.json())
