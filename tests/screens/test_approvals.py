"""The approval inbox in a real browser: a manager approves a quote discount from
/app/approvals, with a comment; the rep recalls another one from "Submitted by me"."""

from tests.screens.conftest import shot, sign_in
from tests.workflow_engine.test_approvals_http import new_quote
from tests.workflow_engine.test_automations import user


def submitted_quote(env):
    """Rob (a rep managed by Mia) submits a 30% discount quote: (mia's Api, rob's Api,
    the quote, its approvals URL)."""
    mia_id, mia = user(env, "mia", ["sales_manager"])
    _, rob = user(env, "rob", ["sales_rep"], mia_id)
    quote = new_quote(rob, 30)
    url = f"/api/v1/records/quote/{quote['id']}/approvals"
    assert rob.post(url, json={"flow": "quote_discount"}).status_code == 201
    return mia, rob, quote, url


def test_approve_from_the_inbox_and_recall_what_i_submitted(browser, site):
    env, base = site
    _, rob, quote, url = submitted_quote(env)

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "mia", "mia-password")
    page.click("nav >> text=Approvals")
    page.wait_for_url(base + "/app/approvals")
    card = page.locator("[data-approval]")
    assert card.count() == 1 and "Acme renewal" in card.inner_text()
    assert "Quote discount approval" in card.inner_text()
    shot(page, "approvals-desktop-en")
    card.locator("textarea[name=comment]").fill("fine this once")
    card.locator("button", has_text="Approve").click()
    page.wait_for_url(base + "/app/approvals?tab=assigned")
    assert page.inner_text("[role=status]") == "Approved."
    assert page.locator("[data-approval]").count() == 0
    assert "Nothing waiting for you." in page.inner_text("main")
    assert env.api.get(f"/api/v1/records/quote/{quote['id']}").json["status"] == "approved"
    approval_id = env.api.get(url).json["data"][0]["id"]
    trail = env.api.get(f"/api/v1/approvals/{approval_id}").json
    assert any(t.get("comment") == "fine this once" for t in trail["tasks"])
    context.close()

    second = new_quote(rob, 35)
    second_url = f"/api/v1/records/quote/{second['id']}/approvals"
    assert rob.post(second_url, json={"flow": "quote_discount"}).status_code == 201
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "rob", "rob-password")
    page.goto(base + "/app/approvals?tab=submitted")
    pending = page.locator("[data-approval]", has_text="pending")
    pending.locator("button", has_text="Recall").click()
    page.wait_for_url(base + "/app/approvals?tab=submitted")
    assert page.inner_text("[role=status]") == "Recalled."
    assert env.api.get(f"/api/v1/records/quote/{second['id']}").json["status"] == "draft"
    page.goto(base + "/app/approvals?tab=assigned")
    assert page.locator("[data-approval]").count() == 0
    context.close()


def test_notifications_count_in_the_shell_open_and_mark_read(browser, site):
    env, base = site
    mia, _, quote, _ = submitted_quote(env)
    waiting = mia.get("/api/v1/notifications?unread=true").json["data"]
    assert waiting, "submitting notifies the approvers"
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "mia", "mia-password")
    assert page.inner_text(".notices .badge") == str(len(waiting))
    page.click(".notices")
    page.wait_for_url(base + "/app/notifications")
    first = page.locator(f"[data-notification='{waiting[0]['id']}']")
    assert waiting[0]["title"] in first.inner_text()
    first.locator("button", has_text="Open").click()
    page.wait_for_url(base + f"/app/quote/{quote['id']}")
    assert mia.get("/api/v1/notifications?unread=true").json["data"][:1] != waiting[:1]
    if len(waiting) > 1:
        page.goto(base + "/app/notifications")
        page.click("text=Mark all read")
    page.goto(base + "/app")
    assert page.locator(".notices .badge").count() == 0
    context.close()


def test_the_record_page_submits_delegates_and_approves(browser, site):
    """The whole request from the quote's own page: a refused submit says the flow's
    entry rule; the rep submits; the manager delegates to a colleague with a comment;
    the colleague approves; the history on the card says who did what."""
    env, base = site
    mia_id, mia = user(env, "mia", ["sales_manager"])
    _, rob = user(env, "rob", ["sales_rep"], mia_id)
    user(env, "max", ["sales_manager"])
    user(env, "dora", ["sales_director"])
    small = new_quote(rob, 10)
    quote = new_quote(rob, 30)

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "rob", "rob-password")
    page.goto(f"{base}/app/quote/{small['id']}")
    page.click("text=Submit for approval")
    assert "Only quotes with a discount over 20% need approval" in page.inner_text(".flash")
    page.goto(f"{base}/app/quote/{quote['id']}")
    page.fill("#submit-comment", "key account")
    page.click("text=Submit for approval")
    assert page.inner_text(".flash") == "Submitted for approval."
    panel = page.locator("[data-approval-panel]")
    assert panel.get_attribute("data-status") == "pending"
    assert "Waiting for approval" in panel.inner_text()
    assert "mia" in panel.locator(".muted").first.inner_text()
    assert panel.locator("text=Approve").count() == 0  # not the rep's to decide
    assert panel.locator("text=Recall").count() == 1
    context.close()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "mia", "mia-password")
    page.goto(f"{base}/app/quote/{quote['id']}")
    panel = page.locator("[data-approval-panel]")
    assert "max" not in panel.locator("select[name=to]").inner_text()  # approves already
    panel.locator("textarea[name=comment]").fill("Dora knows this client")
    panel.locator("select[name=to]").select_option(label="dora")
    panel.locator("button", has_text="Delegate").click()
    assert page.inner_text(".flash") == "Delegated."
    assert page.locator("[data-approval-panel] button", has_text="Approve").count() == 0
    shot(page, "record-approval-desktop-en")
    context.close()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "dora", "dora-password")
    page.goto(f"{base}/app/quote/{quote['id']}")
    page.locator("[data-approval-panel] button", has_text="Approve").click()
    assert page.inner_text(".flash") == "Approved."
    panel = page.locator("[data-approval-panel]")
    assert panel.get_attribute("data-status") == "approved"
    history = panel.locator(".approval-history").inner_text()
    assert "rob submitted it: “key account”" in history
    assert "mia delegated it: “Dora knows this client”" in history
    assert "dora approved it" in history
    # the record's timeline tells it too, among its field changes, newest first
    timeline = page.locator(".timeline li").all_inner_texts()
    approved = next(i for i, t in enumerate(timeline) if t.startswith("dora approved it ("))
    submitted = next(
        i
        for i, t in enumerate(timeline)
        if t.startswith("rob submitted it (") and "key account" in t
    )
    assert approved < submitted
    assert env.api.get(f"/api/v1/records/quote/{quote['id']}").json["status"] == "approved"
    context.close()
