"""GraphiQL without a CDN: the page and every file it loads come from cdp, GraphiQL and React
vendored from their npm packages at the pinned versions, under a policy allowing 'self' only."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx

from cdp.auth import Role
from cdp.graphql.graphiql import ASSETS, GraphiQL
from tests.conftest import ClientFactory

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "scripts" / "graphiql-assets" / "package.json"
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
# Anything naming another origin: a scheme, a protocol-relative URL, or a CDN by name.
ORIGIN = re.compile(r"https?:|(?<![:\w])//[\w.-]+\.\w|unpkg|jsdelivr|cdnjs", re.IGNORECASE)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


async def page_links(browser: httpx.AsyncClient) -> tuple[httpx.Response, list[str]]:
    response = await browser.get("/graphql", headers=HTML)
    assert response.status_code == 200, response.text
    links = Links()
    links.feed(response.text)
    return response, links.links


async def test_the_graphiql_page_names_no_other_origin(client_for: ClientFactory) -> None:
    response, links = await page_links(client_for(None))
    assert not ORIGIN.search(response.text), ORIGIN.search(response.text)
    assert links[0] == "data:,"  # no icon: the browser asks for none
    links = links[1:]
    assert len(links) == 6 and all(link.startswith("/graphql/assets/") for link in links), links
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "unsafe" not in policy and not ORIGIN.search(policy)
    assert response.headers["x-content-type-options"] == "nosniff"
    # No inline script or style: the policy would refuse them.
    assert "<style" not in response.text and not re.search(r"<script>", response.text)


async def test_every_file_of_the_page_is_served_with_its_type_and_cache_life(
    client_for: ClientFactory,
) -> None:
    browser = client_for(None)
    _, links = await page_links(browser)
    for link in links[1:]:
        response = await browser.get(link)
        assert response.status_code == 200, link
        kind = "text/css" if link.endswith(".css") else "text/javascript"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8", link
        assert response.headers["x-content-type-options"] == "nosniff"
        vendored = "/vendor/" in link
        life = "public, max-age=31536000, immutable" if vendored else "no-cache"
        assert response.headers["cache-control"] == life, link
        assert response.content == (ASSETS / link.removeprefix("/graphql/assets/")).read_bytes()
    for missing in ("nothing.js", "vendor/react@18.2.0/LICENSE", "../graphiql.py"):
        assert (await browser.get(f"/graphql/assets/{missing}")).status_code == 404, missing


async def test_the_page_and_its_files_need_no_token(client_for: ClientFactory) -> None:
    anonymous, signed = client_for(None), client_for(Role.SERVICE)
    for client in (anonymous, signed):
        response = await client.get("/graphql/assets/graphiql-start.js")
        assert response.status_code == 200
        assert "createFetcher" in response.text and not ORIGIN.search(response.text)


def test_the_vendored_files_are_the_pinned_packages_with_their_licences() -> None:
    pins = json.loads(PINS.read_text(encoding="utf-8"))["dependencies"]
    lock = json.loads((PINS.parent / "package-lock.json").read_text(encoding="utf-8"))
    vendored = {path.name for path in (ASSETS / "vendor").iterdir()}
    assert vendored == {f"{name}@{version}" for name, version in pins.items()}
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
        folder = ASSETS / "vendor" / f"{name}@{version}"
        assert "MIT License" in (folder / "LICENSE").read_text(encoding="utf-8")
        assert any(path.suffix == ".js" for path in folder.iterdir())
    page = (ROOT / "cdp" / "graphql" / "graphiql.html").read_text(encoding="utf-8")
    named = set(re.findall(r"/vendor/([\w.-]+@[\d.]+)/", page))
    assert named == vendored


def test_graphiql_has_no_asset_route_in_production() -> None:
    assert GraphiQL().routes(enabled=False) == []


def test_the_member_center_page_names_no_other_origin() -> None:
    for path in sorted((ROOT / "cdp" / "h5").glob("*.*")):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert not ORIGIN.search(text), (path.name, ORIGIN.search(text))
