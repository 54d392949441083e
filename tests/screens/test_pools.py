"""The lead pool in a real browser: a rep sees her limits and today's claims next to the
Claim button, claims two leads, returns one with a reason."""

from tests.screens.conftest import shot, sign_in
from tests.workflow_engine.test_automations import user


def test_claim_within_limits_and_return_with_a_reason(browser, site):
    env, base = site
    _, rep = user(env, "rita", ["sales_rep"])
    ids = [
        env.api.post("/api/v1/records/lead", json={"last_name": n, "company": f"{n} Ltd"}).json[
            "id"
        ]
        for n in ("Wang", "Zhao", "Sun")
    ]
    back = env.api.post("/api/v1/pools/lead_pool/return", json={"ids": ids, "reason": "other"})
    assert back.status_code == 200, back.json
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "rita", "rita-password")
    page.click("nav >> text=Pools")
    page.wait_for_url(base + "/app/pools/lead_pool")
    assert page.inner_text("[data-limits]").split() == [
        "You",
        "hold",
        "0",
        "/",
        "50",
        "·",
        "Claimed",
        "today",
        "0",
        "/",
        "20",
    ]
    assert page.locator("tbody tr").count() == 3
    for lead_id in ids[:2]:
        page.check(f"tr[data-id='{lead_id}'] input[name=ids]")
    shot(page, "pool-desktop-en")
    page.click("button:has-text('Claim')")
    page.wait_for_url(base + "/app/pools/lead_pool?tab=pool")
    assert page.inner_text("[role=status]") == "Claimed 2."
    assert "Claimed today 2 / 20" in page.inner_text("[data-limits]")
    assert page.locator("tbody tr").count() == 1
    owners = {r["id"]: r["owner_id"] for r in env.api.get("/api/v1/records/lead").json["data"]}
    assert owners[ids[0]] == owners[ids[1]] != owners.get(ids[2])
    page.click("text=My Leads")
    page.check(f"tr[data-id='{ids[0]}'] input[name=ids]")
    page.click("button:has-text('Return to the pool')")  # no reason chosen: refused
    assert page.locator("select[name=reason]:invalid").count() == 1
    page.select_option("select[name=reason]", "unreachable")
    page.click("button:has-text('Return to the pool')")
    page.wait_for_url(base + "/app/pools/lead_pool?tab=mine")
    assert page.inner_text("[role=status]") == "Returned 1."
    assert page.locator("tbody tr").count() == 1
    pooled = rep.get("/api/v1/pools/lead_pool/records").json["data"]
    assert {r["id"]: r["return_reason"] for r in pooled}[ids[0]] == "unreachable"
    context.close()
