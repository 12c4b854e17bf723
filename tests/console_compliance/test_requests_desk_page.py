"""The data-subject requests desk without a browser: its scripts are files of cdp served under
the console's policy, loaded in order (what the desk shares first, the desk last), building no
HTML from strings; its GraphQL documents (trusted, by name) are valid against the committed
schema and ask for compliance's fields only; it finds a request by its id and takes the
overdue flag from the server; it has words for every status, mode and step the API names; and
every element it looks up is on the page."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema, parse, validate

from cdp.console.routes import CSP
from cdp.graphql.enums import ErasureStep
from cdp.suppression.models import ErasureMode, ErasureStatus
from tests.conftest import ClientFactory
from tests.support.console_documents import console_document
from tests.support.staff_desk import Scripts

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "cdp" / "console"
# In the order the page loads them: what the others share first, the desk's own script last.
PARTS = (
    "compliance_request_words.js",
    "compliance_receipt.js",
    "compliance_request_detail.js",
    "compliance_export.js",
    "compliance_requests.js",
)
DESK = "\n".join((CONSOLE / name).read_text(encoding="utf-8") for name in PARTS)
DOCUMENTS = {
    "QUEUE": "DeskErasureQueue",
    "FIND": "DeskErasureRequest",
    "REQUEST": "DeskRequestErasure",
    "APPROVE": "DeskApproveErasure",
    "EXPORT": "DeskExportProfile",
}


def documents() -> dict[str, str]:
    """The desk's GraphQL documents, each sent by its name (cdp/console/documents.graphql)."""
    found = {}
    for short, name in DOCUMENTS.items():
        assert f'api.gql("{name}"' in DESK, name
        found[short] = console_document(name)
    return found


def keys_of(table: str) -> set[str]:
    """The keys of the object literal `const TABLE = {...};` of the desk's script."""
    found = re.search(rf"const {table} = \{{(.*?)\n  \}};", DESK, re.S)
    assert found, table
    return set(re.findall(r"^\s*(\w+):", found.group(1), re.M))


async def test_the_requests_desk_scripts_are_served_under_the_consoles_policy_in_order(
    client_for: ClientFactory,
) -> None:
    for name in PARTS:
        response = await client_for(None).get(f"/console/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["content-security-policy"] == CSP
        assert response.text == (CONSOLE / name).read_text(encoding="utf-8")
        assert len(response.text.splitlines()) <= 300, name
    page = (await client_for(None).get("/console/")).text
    for name in PARTS:
        assert f'<script src="{name}" defer></script>' in page, name
    scripts = Scripts()
    scripts.feed(page)
    loaded = [name for name in scripts.external if name in PARTS]
    assert loaded == list(PARTS)
    assert '<section id="desk-requests"' in page


def test_the_requests_desk_builds_no_html_from_strings_and_runs_no_strings() -> None:
    for banned in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setTimeout("',
        "javascript:",
    ):
        assert banned not in DESK, banned
    # The download is a Blob behind an object URL, named for the person and the day.
    assert "URL.createObjectURL(new Blob(" in DESK and "URL.revokeObjectURL" in DESK
    assert "link.download = `cdp-export-${" in DESK


def test_the_desks_documents_are_valid_and_ask_for_compliance_fields_only() -> None:
    schema = build_schema((ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8"))
    for name, document in documents().items():
        errors = validate(schema, parse(document))
        assert errors == [], (name, errors)
    every = " ".join(documents().values())
    roots = set(
        re.findall(r"\b(erasureRequests|requestErasure|approveErasure|exportProfile)\(", every)
    )
    assert roots == {"erasureRequests", "requestErasure", "approveErasure", "exportProfile"}
    assert "profile(" not in every and "auditEvents" not in every


def test_the_desk_finds_a_request_by_its_id_and_asks_the_server_what_is_overdue() -> None:
    found = documents()
    assert "erasureRequests(id: $id, first: 1)" in found["FIND"]
    assert "after" not in found["FIND"]  # no paging through the list to find one
    assert "overdue: $overdue" in found["QUEUE"]
    for name in ("QUEUE", "FIND", "REQUEST", "APPROVE"):
        fields = found[name].split()
        assert "overdue" in fields and "profileId" in fields, name
    # The highlight is the server's flag, never the browser's clock against dueAt.
    assert "Date.now" not in DESK and "r.overdue" in DESK
    # Every poll is an audited read: once a second.
    assert re.findall(r"const POLL_MS = (\d+);", DESK) == ["1000"]


def test_the_desk_has_words_for_every_status_mode_and_step_of_the_api() -> None:
    assert keys_of("STATUS") == {s.value for s in ErasureStatus}
    assert keys_of("MODE") == {m.value for m in ErasureMode}
    steps = re.findall(r'^\s*\["([A-Z]+)", "', DESK, re.M)
    assert steps == [s.name for s in ErasureStep]  # in the API's order
    # Four eyes, in words, and overdue as words beside the highlight.
    assert "需要另一位合规专员审批" in DESK and "逾期" in DESK


def test_every_element_the_desk_looks_up_is_in_its_section_of_the_page() -> None:
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    start = page.index('<section id="desk-requests"')
    assert 'data-overdue="true"' in page[start:]  # the 逾期 filter
    section = page[start : page.index("<!-- end of desk-requests -->")]
    ids = set(re.findall(r'\$\("([\w-]+)"\)', DESK))
    assert ids, "the desk looks nothing up"
    missing = {i for i in ids if f'id="{i}"' not in section} - {"desk-requests"}
    assert missing == set()
    # Each form field has its label.
    for field in re.findall(r'<input id="([\w-]+)"', section):
        assert f'<label for="{field}"' in section, field
