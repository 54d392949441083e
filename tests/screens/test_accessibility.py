"""axe-core (from node_modules) on the main screens: no serious or critical violation on
the shell, list, record, form, kanban, approvals and pool pages, in English and zh-CN."""

from pathlib import Path

import pytest

from tests.screens.conftest import sign_in

AXE = Path(__file__).parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))  # inline: allowed only because the context bypasses CSP
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_main_screens_have_no_serious_accessibility_violations(browser, site, locale):
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci`")
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    env.api.post(
        "/api/v1/records/opportunity",
        json={"name": "Deal", "account": acme, "amount": 100, "close_date": "2026-12-31"},
    )
    context = browser.new_context(
        bypass_csp=True, locale=locale, extra_http_headers={"Accept-Language": locale}
    )
    page = context.new_page()
    sign_in(page, base)
    found = {}
    for path in (
        "/app",
        "/app/account",
        f"/app/account/{acme}",
        "/app/account/new",
        f"/app/account/{acme}/edit",
        "/app/opportunity/board",
        "/app/approvals",
        "/app/pools/lead_pool",
        "/app/notifications",
        "/app/search?q=acme",
    ):
        page.goto(base + path)
        found[path] = violations(page)
    page.set_content("<html lang=en><title>t</title><main><img src='x.png'></main></html>")
    assert any(v.startswith("image-alt") for v in violations(page))  # the check does check
    context.close()
    assert {p: v for p, v in found.items() if v} == {}
