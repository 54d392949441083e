"""A record's share and merge pages in a real browser: sharing a deal lets a rep of
another team see it (and stop seeing it); merging a duplicate account keeps the picked
values and moves the duplicate's contacts over."""

from playwright.sync_api import expect

from tests.conftest import user
from tests.screens.conftest import shot, sign_in


def test_share_a_record_with_a_rep_and_stop_sharing(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    rita_id, rita = user(env, "rita", ["sales_rep"])
    assert rita.get(f"/api/v1/records/account/{acme}").status_code == 404
    sign_in(page, base)
    page.goto(f"{base}/app/account/{acme}")
    page.click(".actions >> text=Share")
    page.select_option("#share-target", label="rita")
    page.select_option("#share-access", "read")
    page.click(".share-form button.primary")
    assert page.inner_text(".flash") == "Shared."
    assert "rita" in page.inner_text(f"[data-share='user:{rita_id}']")
    assert rita.get(f"/api/v1/records/account/{acme}").json["name"] == "Acme"
    assert rita.patch(f"/api/v1/records/account/{acme}", json={"name": "x"}).status_code in (
        403,
        404,
    )  # read only
    page.click(f"[data-share='user:{rita_id}'] button")
    expect(page.locator(".flash")).to_have_text("No longer shared.")  # not the last page's
    assert rita.get(f"/api/v1/records/account/{acme}").status_code == 404
    assert page.console_errors == []


def test_merge_a_duplicate_account_keeping_picked_values(page, site):
    env, base = site
    keep = env.api.post(
        "/api/v1/records/account", json={"name": "Acme Trading", "billing_city": "Shanghai"}
    ).json["id"]
    dupe = env.api.post(
        "/api/v1/records/account",
        json={"name": "ACME trading co", "billing_city": "Beijing", "website": "https://acme.cn"},
    ).json["id"]
    li = env.api.post("/api/v1/records/contact", json={"last_name": "Li", "account": dupe}).json
    sign_in(page, base)
    page.goto(f"{base}/app/account/{keep}")
    page.click(".actions >> text=Merge")
    with page.expect_response(lambda r: "/options" in r.url):
        page.fill(".merge-find .lookup", "ACME trading co")
    page.select_option("#merge-other", str(dupe))
    page.click(".merge-find button")
    rows = page.locator("[data-merge-field]")
    fields = rows.evaluate_all("els => els.map(e => e.dataset.mergeField)")
    assert {"name", "billing_city", "website"} <= set(fields)
    page.check("[data-merge-field=website] input[value=other]")
    page.check("[data-merge-field=billing_city] input[value=this]")
    shot(page, "merge-desktop-en")
    page.on("dialog", lambda d: d.accept())
    page.click(".merge-pick button.primary")
    page.wait_for_url(f"{base}/app/account/{keep}")
    assert "Merged." in page.inner_text(".flash")
    merged = env.api.get(f"/api/v1/records/account/{keep}").json
    assert merged["name"] == "Acme Trading" and merged["billing_city"] == "Shanghai"
    assert merged["website"] == "https://acme.cn"
    assert env.api.get(f"/api/v1/records/contact/{li['id']}").json["account"] == keep
    assert env.api.get(f"/api/v1/records/account/{dupe}").status_code == 404


def test_a_rep_cannot_open_the_share_page_of_a_record_they_cannot_change(browser, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    user(env, "rita", ["sales_rep"])
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "rita", "rita-password")
    for path in ("share", "merge"):
        answer = page.goto(f"{base}/app/account/{acme}/{path}")
        assert answer.status in (403, 404)
    context.close()


def test_comment_on_a_record_and_delete_it(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    sign_in(page, base)
    page.goto(f"{base}/app/account/{acme}")
    page.fill("#comment-body", "Met the buyer.\n<img src=x onerror=alert(1)>")
    page.click(".comment-form button")
    comment = page.locator(".timeline li.comment")
    assert comment.count() == 1
    assert comment.locator("span").inner_text() == "admin commented"
    body = comment.locator(".comment-body").inner_text()
    assert body == "Met the buyer.\n<img src=x onerror=alert(1)>"  # text, not markup
    assert page.locator(".timeline img").count() == 0
    shot(page, "record-comment-desktop-en")
    page.on("dialog", lambda d: d.accept())
    comment.locator("button", has_text="Delete").click()
    assert page.inner_text(".flash") == "Comment deleted."
    assert page.locator(".timeline li.comment").count() == 0
    assert env.api.get(f"/api/v1/records/account/{acme}/comments").json["data"] == []
    assert page.console_errors == []
