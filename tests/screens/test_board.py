"""The kanban in a real browser: columns per stage, a drag the pipeline accepts, and a
refused one that snaps back and says why."""

from tests.screens.conftest import shot, sign_in


def drag(page, card_id: int, stage: str) -> None:
    card = page.locator(f".board-card[data-id='{card_id}']")
    target = page.locator(f".board-cards[data-stage='{stage}']")
    box, goal = card.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10)
    page.mouse.down()
    for step in range(1, 11):  # SortableJS follows pointer moves, not a jump
        page.mouse.move(
            box["x"] + 20 + (goal["x"] + 30 - box["x"] - 20) * step / 10,
            box["y"] + 10 + (goal["y"] + 20 - box["y"] - 10) * step / 10,
        )
    page.mouse.up()


def test_board_moves_cards_and_explains_a_refused_move(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    li = env.api.post("/api/v1/records/contact", json={"last_name": "Li", "account": acme})
    deal = env.api.post(
        "/api/v1/records/opportunity",
        json={"name": "Big deal", "account": acme, "amount": 120000, "close_date": "2026-12-31"},
    ).json
    sign_in(page, base)
    page.goto(base + "/app/opportunity")
    page.click("text=Board")
    page.wait_for_url(base + "/app/opportunity/board")
    stages = page.locator(".board-column").evaluate_all("els => els.map(e => e.dataset.stage)")
    assert stages[:3] == ["prospecting", "qualification", "proposal"]
    assert page.locator(".board-column[data-stage=prospecting] .board-count").inner_text() == "1"
    assert "120,000" in page.locator(".board-column[data-stage=prospecting] header").inner_text()

    with page.expect_response(lambda r: r.url.endswith("/move")) as refused:
        drag(page, deal["id"], "qualification")  # needs a primary contact
    assert refused.value.status == 422
    message = page.locator(".board-message")
    message.wait_for(state="visible")
    assert message.inner_text() == "Primary contact is required to enter stage 'qualification'"
    prospecting = page.locator(".board-cards[data-stage=prospecting]")
    assert prospecting.locator(f"[data-id='{deal['id']}']").count() == 1  # snapped back
    assert env.api.get(f"/api/v1/records/opportunity/{deal['id']}").json["stage"] == "prospecting"
    shot(page, "board-refused-desktop-en")

    env.api.patch(
        f"/api/v1/records/opportunity/{deal['id']}",
        json={"primary_contact": li.json["id"]},
    )
    page.reload()
    with page.expect_response(lambda r: r.url.endswith("/move")) as moved:
        drag(page, deal["id"], "qualification")
    assert moved.value.status == 200
    assert page.locator(".board-column[data-stage=qualification] .board-count").inner_text() == "1"
    assert env.api.get(f"/api/v1/records/opportunity/{deal['id']}").json["stage"] == "qualification"
    script_errors = [e for e in page.console_errors if "Failed to load resource" not in e]
    assert script_errors == []  # the refused move's 422 is the only failed request


def test_the_record_pages_stage_path_moves_or_says_why_not(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    deal = env.api.post(
        "/api/v1/records/opportunity", json={"name": "Small deal", "account": acme}
    ).json
    env.api.patch(f"/api/v1/records/opportunity/{deal['id']}", json={"amount": 12500})
    sign_in(page, base)
    page.goto(base + f"/app/opportunity/{deal['id']}")
    # the key fields under the title: the list's first columns that have a value
    keys = page.locator(".highlights dd").evaluate_all("els => els.map(e => e.dataset.highlight)")
    assert keys[:2] == ["code", "account"] and "amount" in keys and "stage" not in keys
    assert page.inner_text("[data-highlight=amount]") == "12,500.00"
    current = page.locator(".stage-path [aria-current=step]")
    assert current.inner_text() == "Prospecting"
    with page.expect_response(lambda r: r.url.endswith("/stage")) as refused:
        page.click(".stage-path button[value=qualification]")
    assert refused.value.status == 422
    assert "Primary contact is required" in page.inner_text(".stage-path [role=alert]")
    assert current.inner_text() == "Prospecting"
    env.api.post("/api/v1/records/contact", json={"last_name": "Li", "account": acme})
    li = env.api.get("/api/v1/records/contact").json["data"][0]["id"]
    env.api.patch(f"/api/v1/records/opportunity/{deal['id']}", json={"primary_contact": li})
    page.goto(base + f"/app/opportunity/{deal['id']}")
    page.click(".stage-path button[value=qualification]")
    page.wait_for_url(base + f"/app/opportunity/{deal['id']}")
    assert page.locator(".stage-path [aria-current=step]").inner_text() == "Qualification"
    assert any(
        e.startswith("admin moved it to Qualification")
        for e in page.locator(".timeline li").all_inner_texts()
    )
    shot(page, "record-path-desktop-en")
