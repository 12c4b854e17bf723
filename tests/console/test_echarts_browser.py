"""The vendored Apache ECharts in headless Chromium under the console's own policy (script-src
'self', no 'unsafe-eval', no inline style), every request beyond cdp aborted: it draws a bar
chart on a canvas and in SVG, and shows a tooltip built without markup. Its default tooltip,
markup with style attributes, is what the policy refuses: the dashboard builds its own.

The page is the test's own (nothing test-only ships in cdp/console): served beside cdp's
console routes with the console's headers. The screenshot goes to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.console.routes import HEADERS, Console
from cdp.devwechat.loopback import LoopbackServer
from tests.conftest import make_settings
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
PINS = json.loads((ROOT / "scripts" / "echarts-assets" / "package.json").read_text("utf-8"))
SCRIPT = f"/console/vendor/echarts@{PINS['dependencies']['echarts']}/echarts.min.js"
PAGE = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>ECharts under the console's policy</title>
<script src="{SCRIPT}" defer></script>
<script src="/echarts-test/chart.js" defer></script>
</head><body></body></html>
"""
# Draws one bar chart per case; `data-drawn` on the body says it got to the end.
CHART = """"use strict";
const BARS = [["普通会员", 120], ["VIP", 45], ["至尊", 7]];
function markup(params) {
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.textContent = params.name + ": " + params.value;
  tip.style.fontWeight = "bold";  // CSSOM from script: not an inline style to the policy
  return tip;
}
const CASES = {
  canvas: { renderer: "canvas", tooltip: { renderMode: "richText" } },
  svg: { renderer: "svg", tooltip: { renderMode: "richText" } },
  dom: { renderer: "canvas", tooltip: { confine: true, formatter: markup } },
  html: { renderer: "canvas", tooltip: {} },
};
function draw(name) {
  const box = document.createElement("section");
  box.id = name;
  document.body.appendChild(box);
  const { renderer, tooltip } = CASES[name];
  const chart = echarts.init(box, null, { renderer, width: 480, height: 300 });
  chart.setOption({
    animation: false,
    tooltip,
    xAxis: { type: "category", data: BARS.map((bar) => bar[0]) },
    yAxis: { type: "value" },
    series: [{ type: "bar", name: "会员", data: BARS.map((bar) => bar[1]) }],
  });
  chart.dispatchAction({ type: "showTip", seriesIndex: 0, dataIndex: 1 });
}
for (const name of document.location.hash.slice(1).split(",")) draw(name);
document.body.dataset.drawn = String(typeof echarts.init === "function");
"""


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html; charset=utf-8", headers=HEADERS)


async def chart_script(request: Request) -> Response:
    return Response(CHART, media_type="text/javascript; charset=utf-8", headers=HEADERS)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LoopbackServer]:
    console = Console(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}"))
    app = Starlette(
        routes=[
            *console.routes(),
            Route("/echarts-test/", page, methods=["GET"]),
            Route("/echarts-test/chart.js", chart_script, methods=["GET"]),
        ]
    )
    with LoopbackServer(app) as running:
        yield running


async def open_charts(chromium: str, server: LoopbackServer, cases: str) -> dict[str, Any]:
    """Loads the page drawing `cases` and returns what the browser saw of it."""
    from playwright.async_api import Route as Routed

    origin = urlsplit(server.url).netloc
    seen: dict[str, Any] = {"problems": [], "requested": [], "aborted": []}

    async def only_cdp(route: Routed) -> None:
        seen["requested"].append(route.request.url)
        if urlsplit(route.request.url).netloc == origin:
            await route.continue_()
        else:
            seen["aborted"].append(route.request.url)
            await route.abort()

    async with headless(chromium) as browser:
        tab = await browser.new_page(viewport={"width": 1280, "height": 800})
        await tab.route("**/*", only_cdp)
        tab.on("console", lambda m: seen["problems"].append(m.text) if m.type == "error" else 0)
        tab.on("pageerror", lambda e: seen["problems"].append(str(e)))
        # Run before any of the page's scripts (and outside its policy): every refusal.
        await tab.add_init_script(
            "window.refused = []; document.addEventListener('securitypolicyviolation',"
            " (e) => window.refused.push(e.effectiveDirective + ' ' + e.blockedURI));"
        )
        response = await tab.goto(f"{server.url}/echarts-test/#{cases}")
        assert response is not None and response.status == 200
        await tab.wait_for_selector("body[data-drawn=true]", timeout=20_000)
        await tab.wait_for_timeout(200)  # the tooltip is placed on the next frame
        seen["policy"] = response.headers["content-security-policy"]
        seen["refused"] = await tab.evaluate("window.refused")
        seen["canvas"] = await tab.evaluate(BAR_PIXELS, "#canvas canvas")
        seen["svg_paths"] = await tab.locator('#svg svg path[fill="#5470c6"]').evaluate_all(
            "(paths) => paths.map((path) => path.getAttribute('d'))"
        )
        seen["svg_texts"] = await tab.locator("#svg svg text").all_text_contents()
        seen["dom_tip"] = await tab.locator("#dom .tip").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"console-echarts-{cases.replace(',', '-')}.png"
        await tab.screenshot(path=shot, full_page=True)
    return seen


# How many of a canvas's pixels have the first series' colour (#5470c6): the bars.
BAR_PIXELS = """(selector) => {
  const canvas = document.querySelector(selector);
  if (!canvas) return -1;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let bars = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i] === 84 && pixels[i + 1] === 112 && pixels[i + 2] === 198) bars += 1;
  }
  return bars;
}"""


async def test_echarts_draws_a_bar_chart_under_the_console_policy_with_nothing_from_outside(
    chromium: str, server: LoopbackServer
) -> None:
    seen = await open_charts(chromium, server, "canvas,svg,dom")
    assert seen["policy"] == HEADERS["content-security-policy"]
    assert seen["refused"] == [] and seen["problems"] == [], (seen["refused"], seen["problems"])
    assert seen["aborted"] == []
    origin = urlsplit(server.url).netloc
    assert {urlsplit(url).netloc for url in seen["requested"]} == {origin}
    assert any(url.endswith(SCRIPT) for url in seen["requested"])
    assert seen["canvas"] > 3_000, seen["canvas"]  # three bars' worth of their colour
    # In SVG: three bars as tall as their counts (each drawn `l width 0 l 0 -height`), and
    # the tooltip drawn as rich text beside them, its marker in the series' colour.
    bars = [re.findall(r"l0 (-[\d.]+)", d) for d in seen["svg_paths"] if d.endswith("Z")]
    heights = [-float(height) for [height] in bars]
    assert len(heights) == 3 and len(seen["svg_paths"]) == 4, seen["svg_paths"]
    assert [round(h / heights[0] * 120) for h in heights] == [120, 45, 7], heights
    assert seen["svg_texts"][-2:] == ["VIP", "45"], seen["svg_texts"]
    assert seen["dom_tip"] == ["VIP: 45"]


async def test_the_default_html_tooltip_is_refused_by_the_console_policy(
    chromium: str, server: LoopbackServer
) -> None:
    # Its markup carries style attributes: the policy holds (no 'unsafe-inline'), and the
    # dashboard uses richText tooltips or a formatter returning elements instead.
    seen = await open_charts(chromium, server, "html")
    assert seen["refused"] and set(seen["refused"]) == {"style-src-attr inline"}, seen["refused"]
    assert seen["canvas"] == -1 and seen["aborted"] == []
