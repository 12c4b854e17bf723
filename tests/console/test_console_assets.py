"""Apache ECharts served by cdp for the console, nothing from a CDN: the file vendored from its
npm package at the pinned version, with its licences, under the console's policy, cached for a
year because its path names the version; every console file served from an allow-list made
at start-up, anything else (a traversal above all) the coded 404."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from cdp.app import create_app
from cdp.console.routes import CSP, PAGE_DIR, Console, served_files
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, make_settings

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "scripts" / "echarts-assets"
VERSION = json.loads((PINS / "package.json").read_text(encoding="utf-8"))["dependencies"]["echarts"]
FOLDER = PAGE_DIR / "vendor" / f"echarts@{VERSION}"
SCRIPT = f"/console/vendor/echarts@{VERSION}/echarts.min.js"
IMMUTABLE = "public, max-age=31536000, immutable"
# Anything naming another origin: a scheme, a protocol-relative URL, or a CDN by name.
ORIGIN = re.compile(r"https?:|(?<![:\w])//[\w.-]+\.\w|unpkg|jsdelivr|cdnjs", re.IGNORECASE)
COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# Names the SVG renderer gives the elements it makes: identifiers, never fetched.
XML_NAMESPACES = {
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
}


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    """The whole app (its coded 404 included); the console needs no database."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}")
    return create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
        yield client


async def raw_get(app: Starlette, raw_path: bytes) -> tuple[int, bytes]:
    """GET `raw_path` exactly as written (httpx would resolve `..` before sending it), its
    path decoded as a server decodes it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"cdp.test")],
        "client": ("127.0.0.1", 1),
        "server": ("cdp.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def test_the_vendored_folder_is_the_pinned_package_with_its_licences() -> None:
    lock = json.loads((PINS / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/echarts"]["version"] == VERSION
    assert re.fullmatch(r"5\.\d+\.\d+", VERSION), "pin an exact 5.x release"
    assert sorted(p.name for p in (PAGE_DIR / "vendor").iterdir()) == [f"echarts@{VERSION}"]
    assert sorted(p.name for p in FOLDER.iterdir()) == [
        "LICENSE",
        "LICENSE-d3",
        "LICENSE-zrender",
        "NOTICE",
        "echarts.min.js",
    ]
    assert "Apache License" in (FOLDER / "LICENSE").read_text(encoding="utf-8")
    assert "Apache ECharts" in (FOLDER / "NOTICE").read_text(encoding="utf-8")
    zrender = lock["packages"]["node_modules/zrender"]["version"]
    script = (FOLDER / "echarts.min.js").read_text(encoding="utf-8")
    assert script.startswith("\n/*\n* Licensed to the Apache Software Foundation (ASF)")
    # The file's own word on what it is: ECharts at the pin, built on the locked zrender.
    assert re.findall(r'\.version="([\d.]+)"', script) == [VERSION]
    assert f'dependencies={{zrender:"{zrender}"}}' in script


async def test_echarts_is_served_with_its_type_the_console_policy_and_a_year_of_cache(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get(SCRIPT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.content == (FOLDER / "echarts.min.js").read_bytes()
    page = await browser.get("/console/")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"] == CSP
    assert "'unsafe-eval'" not in CSP and "'unsafe-inline'" not in CSP
    script = await browser.get("/console/console.js")
    assert script.headers["cache-control"] == "no-cache"


async def test_the_licence_and_notice_are_served_as_plain_text(
    browser: httpx.AsyncClient,
) -> None:
    for name in ("LICENSE", "NOTICE", "LICENSE-d3", "LICENSE-zrender"):
        response = await browser.get(f"/console/vendor/echarts@{VERSION}/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/plain; charset=utf-8", name
        assert response.headers["cache-control"] == IMMUTABLE, name
        assert response.content == (FOLDER / name).read_bytes(), name


def test_every_console_file_is_on_the_allow_list_without_naming_it(tmp_path: Path) -> None:
    for name in ("index.html", "console.js", "console.css", "dashboard.js", "vendor/x@1/NOTICE"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    for name in ("routes.py", "notes.md", ".secret.js", "vendor/x@1/package.json"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert sorted(served_files(tmp_path)) == [
        "console.css",
        "console.js",
        "dashboard.js",
        "index.html",
        "vendor/x@1/NOTICE",
    ]
    console = Console(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}"))
    assert {f"vendor/echarts@{VERSION}/echarts.min.js", "console.js", ""} <= set(console.files)
    assert not [name for name in console.files if name.endswith(".py")]


@pytest.mark.parametrize(
    "path",
    [
        b"/console/../cdp/config.py",
        b"/console/vendor/../routes.py",
        b"/console/%2e%2e/routes.py",
        b"/console/vendor/%2E%2E/%2e%2e/app.py",
        b"/console/vendor/%2e%2e%2froutes.py",
        b"/console//etc/passwd",
        b"/console/%2Fetc%2Fpasswd",
        b"/console/vendor\\..\\routes.py",
        b"/console/vendor%5c..%5croutes.py",
        b"/console/routes.py",
        b"/console/__init__.py",
        b"/console/vendor/",
        b"/console/vendor/echarts@0.0.0/echarts.min.js",
    ],
)
async def test_a_path_outside_the_allow_list_is_the_coded_404(app: Starlette, path: bytes) -> None:
    status, body = await raw_get(app, path)
    assert status == 404, path
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert b"import" not in body and b"Licensed" not in body


def test_nothing_of_the_console_names_another_origin() -> None:
    for name, path in served_files().items():
        text = path.read_text(encoding="utf-8")
        if not name.startswith("vendor/"):
            assert not ORIGIN.search(text), (name, ORIGIN.search(text))
        elif path.suffix == ".js":
            # The vendored code itself: a URL only in a comment, or an XML namespace name.
            code = COMMENT.sub("", text)
            named = set(re.findall(r"https?://[^\"'\s]*", code))
            assert named <= XML_NAMESPACES, named - XML_NAMESPACES
            assert not re.search(r"unpkg|jsdelivr|cdnjs", code, re.IGNORECASE)
