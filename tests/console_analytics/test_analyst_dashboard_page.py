"""The analyst dashboard's scripts without a browser: files of cdp served under the console's
policy, loaded after the vendored ECharts they draw with (the chart parts and the measures
before the dashboard itself), building the page with textContent only, asking for every
analytics measure and for nothing but analytics."""

from __future__ import annotations

import re
from pathlib import Path

from cdp.console.routes import CSP
from tests.conftest import ClientFactory
from tests.support.analytics_measures import MEASURES
from tests.support.console_documents import BY_NAME, console_document, console_roles
from tests.support.staff_desk import Scripts

CONSOLE = Path(__file__).resolve().parents[2] / "cdp" / "console"
# In the order the page loads them: what a chart is made of, the measures, the dashboard.
PARTS = ("analytics_charts.js", "analytics_measures.js", "analytics.js")
SCRIPT = "\n".join((CONSOLE / name).read_text(encoding="utf-8") for name in PARTS)


async def test_the_dashboard_script_is_served_under_the_consoles_policy(
    client_for: ClientFactory,
) -> None:
    for name in (*PARTS, "analytics.css"):
        response = await client_for(None).get(f"/console/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.text == (CONSOLE / name).read_text(encoding="utf-8")
        assert len(response.text.splitlines()) <= 300, name
    assert response.headers["content-type"] == "text/css; charset=utf-8"


async def test_the_page_loads_the_vendored_echarts_before_the_dashboard(
    client_for: ClientFactory,
) -> None:
    page = (await client_for(None).get("/console/")).text
    scripts = Scripts()
    scripts.feed(page)
    [echarts] = [src for src in scripts.external if "echarts" in src]
    assert re.fullmatch(r"vendor/echarts@\d+\.\d+\.\d+/echarts\.min\.js", echarts)
    assert (CONSOLE / echarts).is_file()
    loaded = [name for name in scripts.external if name in PARTS]
    assert loaded == list(PARTS)
    assert scripts.external.index(echarts) < scripts.external.index(PARTS[0])
    served = await client_for(None).get(f"/console/{echarts}")
    assert served.status_code == 200 and served.headers["content-security-policy"] == CSP
    assert scripts.inline == [] and "style=" not in page


def test_the_dashboard_builds_without_markup_or_eval() -> None:
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert banned not in SCRIPT, banned
    assert "new Function" not in SCRIPT and 'setAttribute("style"' not in SCRIPT
    # ECharts' default tooltip is markup the policy refuses: every chart's is an element.
    assert "formatter: tooltip" in SCRIPT and "confine: true" in SCRIPT


def test_the_dashboard_asks_for_every_measure_and_nothing_else() -> None:
    trends = (CONSOLE / "analytics_trends.js").read_text(encoding="utf-8")
    named = set(re.findall(r'"(Analytics\w+)"', SCRIPT + trends))
    # One trusted document per measure, each the analyst's and nothing but analytics.
    assert named == {name for name in BY_NAME if name.startswith("Analytics")}
    assert "api.gql(spec.document, variables)" in SCRIPT
    texts = {name: console_document(name) for name in named}
    for measure in MEASURES:
        field = re.compile(rf"\b{measure}\(from: \$from, to: \$to")
        assert any(field.search(text) for text in texts.values()), measure
    for name, text in texts.items():
        assert console_roles(name) == {"analyst"}, name
        assert text.split("{")[1].split() == ["analytics"], name  # the one root field
        assert "minimumGroupSize" in text
        for refused in ("profile(", "phone", "unionId", "auditEvents"):
            assert refused not in text, name
    assert "days: $days" in texts["AnalyticsConversionByChannel"]
