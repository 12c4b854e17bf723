"""cdp's own pages send trusted documents only, and the manifest of them is true: each id is
the SHA-256 of its exact text, the manifest is what `make documents` writes from the pages'
`documents.graphql`, every document passes the registration check for the roles that run it,
and every document a page names is in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cdp.documents.registry import document_id
from cdp.graphql.documents import check, operations_in_source, runnable_by
from cdp.graphql.execution import core_schema
from cdp.graphql.limits import Limits
from cdp.graphql.schema import build_schema
from cdp.graphql.trusted import PAGES_MANIFEST, page_documents
from cdp.roles import Role

CDP = Path(__file__).resolve().parent.parent / "cdp"
SOURCES = [CDP / "h5" / "documents.graphql"]
H5_SCRIPTS = sorted((CDP / "h5").glob("*.js"))
MANIFEST: dict[str, str] = json.loads(PAGES_MANIFEST.read_text(encoding="utf-8"))
TABLE = re.compile(r"var DOCUMENTS = \{(.*?)\};", re.S)
ENTRY = re.compile(r'(\w+): "(sha256:[0-9a-f]{64})"')
SENT = re.compile(r'\bgraphql\(\s*("?)(\w+)\1')
CONSTANT = re.compile(r'var ([A-Z_]+) = "(\w+)";')


def h5_table() -> dict[str, str]:
    found = TABLE.search((CDP / "h5" / "app.js").read_text(encoding="utf-8"))
    assert found, "app.js holds the table of the documents the member centre sends"
    return dict(ENTRY.findall(found.group(1)))


def test_every_id_of_the_manifest_is_the_sha256_of_its_exact_text() -> None:
    assert MANIFEST
    for key, text in MANIFEST.items():
        assert key == document_id(text), f"{key} is stale: its text hashes to {document_id(text)}"


def test_the_manifest_is_what_make_documents_writes_from_the_pages_sources() -> None:
    written = {op.id: op.text for path in SOURCES for op in operations_in_source(path.read_text())}
    assert written == MANIFEST, "cdp/documents/pages.json is stale: run `make documents`"


def test_every_page_document_passes_the_registration_check_for_the_customer() -> None:
    limits = Limits()
    schema = core_schema(build_schema(limits=limits))
    for path in SOURCES:
        for operation in operations_in_source(path.read_text()):
            roles = runnable_by(schema, operation)
            assert roles == {Role.CUSTOMER}, f"{operation.label} runs for {roles}"
            check(schema, operation, roles, limits)
    assert set(page_documents(schema)) == set(MANIFEST)


def test_the_member_centres_table_names_every_document_of_its_source_by_id() -> None:
    names = {op.name: op.id for op in operations_in_source(SOURCES[0].read_text())}
    assert h5_table() == names, "app.js's DOCUMENTS differ from cdp/h5/documents.graphql"


def test_the_member_centre_sends_only_documents_of_its_table_and_never_a_query() -> None:
    table = h5_table()
    sent: set[str] = set()
    for script in H5_SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"\bquery\s*:", text), f"{script.name} sends a document's text"
        assert "documentId" in text or "graphql(" in text, script.name
        constants = dict(CONSTANT.findall(text))
        for quoted, name in SENT.findall(text):
            if name in ("operation", "query"):  # the sender's own parameter
                continue
            operation = name if quoted else constants.get(name)
            assert operation in table, f"{script.name} sends {name}, not a trusted document"
            sent.add(operation)
    assert sent == set(table), f"documents no page sends: {set(table) - sent}"
    assert set(table.values()) <= set(MANIFEST)
