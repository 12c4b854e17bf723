"""The support desk's page and scripts, without a browser: both scripts are files of cdp
served under the console's policy, the page carries no inline script, the shell has words for
every error code of the contract and every reason a session ends, and the desk's queries ask
for no field support is refused."""

from __future__ import annotations

import re
from pathlib import Path

from cdp.console.routes import CSP
from cdp.errors import ErrorCode
from cdp.graphql.lookup_limit import LIMIT_NAME as LOOKUPS
from cdp.lookups.misses import LIMIT_NAME as LOOKUP_MISSES
from cdp.staff.models import SessionEnd
from tests.conftest import ClientFactory
from tests.support.console_documents import console_document
from tests.support.staff_desk import Scripts

CONSOLE = Path(__file__).resolve().parents[2] / "cdp" / "console"


def keys_of(script: str, table: str) -> set[str]:
    """The keys of the object literal `const TABLE = {...};` of a script."""
    found = re.search(rf"const {table} = \{{(.*?)\n?\}};", script, re.S)
    assert found, table
    return set(re.findall(r"^\s*(\w+):", found.group(1), re.M)) | set(
        re.findall(r"[{,]\s*(\w+):", found.group(1))
    )


async def test_support_js_is_served_under_the_consoles_policy(client_for: ClientFactory) -> None:
    response = await client_for(None).get("/console/support.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == (CONSOLE / "support.js").read_text(encoding="utf-8")


async def test_the_console_page_loads_its_desks_from_files_with_no_inline_script(
    client_for: ClientFactory,
) -> None:
    page = (await client_for(None).get("/console/")).text
    scripts = Scripts()
    scripts.feed(page)
    # Every script of the console's directory: the table of document ids, then the shell (the
    # desks register with it), then the desks.
    first = ["documents.js", "console.js"]
    desks = sorted(p.name for p in CONSOLE.glob("*.js") if p.name not in first)
    # Vendored libraries (vendor/echarts@…) are npm's files, not the console's own.
    own = [name for name in scripts.external if not name.startswith("vendor/")]
    assert own[:2] == first
    assert sorted(own[2:]) == desks
    assert scripts.inline == []
    assert "style=" not in page
    for name in own:
        text = (CONSOLE / name).read_text(encoding="utf-8")
        assert "innerHTML" not in text and "outerHTML" not in text and "eval(" not in text
        assert "insertAdjacentHTML" not in text and "document.write" not in text


def test_the_shell_has_words_for_every_error_code_of_the_contract() -> None:
    shell = (CONSOLE / "console.js").read_text(encoding="utf-8")
    assert keys_of(shell, "ERROR_WORDS") == {code.value for code in ErrorCode}
    assert {"rate", LOOKUPS, LOOKUP_MISSES} <= keys_of(shell, "LIMIT_WORDS")
    assert {"CSRF", "ROLE_NOT_CHOSEN", "DOCUMENT_ROLE", "TRUSTED_DOCUMENTS_ONLY"} <= keys_of(
        shell, "FORBIDDEN_WHY"
    )
    assert keys_of(shell, "NOT_FOUND_WHY") == {"PERSISTED_DOCUMENT_NOT_FOUND"}
    reasons = {end.value.upper() for end in SessionEnd} | {"UNKNOWN_SESSION", "NO_SESSION"}
    assert keys_of(shell, "WHY") == reasons
    # The words name what the server sent along: a 503's wait, the field, the request id.
    for part in ("retryAfter", "ext.field", "ext.requestId", "ext.limit", "ext.reason"):
        assert part in shell
    assert '"X-CDP-CSRF"' in shell


SUPPORT_DOCUMENTS = (
    "SupportLookup",
    "SupportMoreLedger",
    "SupportMoreCoupons",
    "SupportMoreOrders",
    "SupportMoreChanges",
)


def test_the_support_desk_asks_for_no_field_support_is_refused() -> None:
    desk = (CONSOLE / "support.js").read_text(encoding="utf-8")
    for name in SUPPORT_DOCUMENTS:
        assert f'"{name}"' in desk, name
    documents = "\n".join(console_document(name) for name in SUPPORT_DOCUMENTS)
    # The words of the page ("申请删除 request erasure": compliance's links) aside, the code.
    code = re.sub(r'"[^"\n]*"', '""', desk)
    for refused in ("birthday", "identities", "exportProfile", "erasure"):
        assert refused not in documents and refused not in code
    # Compliance's card links to the request desk's forms for the person; support's has none.
    assert "#/requests/new/${encodeURIComponent(id)}" in desk
    assert 'if (session && session.role === "compliance")' in desk
    # unionId only as a key to look up by, never as a field of the profile.
    uses = re.findall(r".{0,12}unionId.{0,12}", documents)
    assert uses and all("$unionId" in use for use in uses), uses
    # The purpose is the ticket and the reason, and the form refuses without either.
    assert "`工单 ${ticket}: ${reason}`" in desk
    assert all("purpose: $purpose" in console_document(name) for name in SUPPORT_DOCUMENTS)
