"""The first slice of the screens in a real browser: sign in, the shell, a list, a
record page, a form with inline errors, a reference search, zh-CN, 375 px, XSS inert,
permissions on pages and fragments."""

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import user
from tests.screens.conftest import shot, sign_in

SAVE = "form.record-form button[type=submit]"
XSS = '<img src=x onerror="window.__xss=1">'


def test_sign_in_lands_on_the_home_page_with_navigation(page, site):
    env, base = site
    page.goto(base + "/")
    assert page.url == base + "/login"
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "wrong tenant, username or password" in page.inner_text("[role=alert]")
    page.console_errors.clear()  # the refused login's 401
    sign_in(page, base)
    nav = page.locator("nav a").all_inner_texts()
    assert "Accounts" in nav and "Opportunities" in nav
    shot(page, "home-desktop-en")
    assert page.console_errors == []


def test_create_with_inline_errors_then_edit(page, site):
    env, base = site
    sign_in(page, base)
    page.click("nav >> text=Accounts")
    page.wait_for_url(base + "/app/account")
    page.click("text=New")
    page.wait_for_url(base + "/app/account/new")
    assert page.locator("label[for=f-name]").inner_text() == "Account name *"
    page.fill("input[name=employees]", "2.5")
    page.select_option("select[name=industry]", "retail")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click(SAVE)
    assert posted.value.status == 422
    assert page.locator("#e-employees").inner_text() == "Not a valid integer."
    assert page.locator("#e-name").is_visible()
    assert page.locator(".error-summary a[href='#f-employees']").count() == 1
    assert page.input_value("select[name=industry]") == "retail"  # nothing typed is lost
    shot(page, "form-errors-desktop-en")
    page.fill("input[name=name]", "Acme Trading")
    page.fill("input[name=employees]", "120")
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    assert page.inner_text("h1") == "Acme Trading"
    assert page.inner_text("[data-field=employees]") == "120"
    assert page.inner_text("[data-field=industry]") == "Retail"
    page.click("text=Edit")
    page.fill("input[name=employees]", "1500")
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    assert page.inner_text("[data-field=employees]") == "1,500"  # the locale's grouping
    events = page.locator(".timeline li").all_inner_texts()
    assert events[0].startswith("admin changed Employees from “120” to “1,500”")
    assert events[-1].startswith("admin created it")
    shot(page, "record-desktop-en")
    page.goto(base + "/app/account")
    assert page.locator("table.records tbody tr").count() == 1
    page.click("table.records >> text=Acme Trading")
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))


def test_reference_search_fills_the_id_and_related_lists_link_back(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme Trading"}).json["id"]
    env.api.post("/api/v1/records/account", json={"name": "Bolt Energy"})
    sign_in(page, base)
    page.goto(base + "/app/contact/new")
    page.fill("input[name=last_name]", "Li")
    with page.expect_response(lambda r: "/app/account/options" in r.url):
        page.fill("input.lookup", "acme")
    account_options = page.locator("select[name=account] option")
    expect(account_options.filter(has_text="Acme Trading")).to_have_count(1)
    expect(account_options.filter(has_text="Bolt Energy")).to_have_count(0)
    options = page.locator("select[name=account] option").all_inner_texts()
    assert "Acme Trading" in options and "Bolt Energy" not in options
    page.select_option("select[name=account]", str(acme))
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/contact/\d+$"))
    assert page.inner_text("[data-field=account]") == "Acme Trading"
    page.click("[data-field=account] a")
    page.wait_for_url(base + f"/app/account/{acme}")
    related = page.locator("section[data-related=contact]")
    assert related.locator("a", has_text="Li").count() == 1
    opportunities = page.locator(".related-empty [data-related=opportunity]")
    assert opportunities.inner_text() == "New Opportunity"  # an empty list: one button
    related.locator("text=New").click()
    assert page.input_value("select[name=account]") == str(acme)  # pre-filled


def test_values_are_text_never_markup(page, site):
    env, base = site
    env.api.post(
        "/api/v1/records/account",
        json={"name": XSS, "billing_city": XSS, "description": XSS, "tags": [XSS[:50]]},
    )
    sign_in(page, base)
    page.goto(base + "/app/account")
    assert XSS in page.inner_text("table.records")
    page.click("table.records tbody a")
    page.wait_for_load_state()
    assert page.inner_text("h1") == XSS
    page.click("text=Edit")
    assert page.input_value("input[name=name]") == XSS
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0


def test_a_sales_rep_sees_only_their_records_and_never_a_hidden_field(browser, site):
    env, base = site
    env.api.post("/api/v1/records/account", json={"name": "Admin's account"})
    user(env, "rita", ["sales_rep"])
    user(env, "sam", ["service_agent"])
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "rita", "rita-password")
    page.goto(base + "/app/account/new")
    page.fill("input[name=name]", "Rita's account")
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    rita_account = int(page.url.rsplit("/", 1)[1])
    page.goto(base + "/app/account")
    assert (
        page.locator("table.records tbody tr")
        .all_inner_texts()[0]
        .strip()
        .startswith("Rita's account")
    )
    assert page.locator("table.records tbody tr").count() == 1
    assert page.goto(base + "/app/account/1").status == 404  # the admin's: not in her scope
    headings = page.locator("nav .nav-heading").all_inner_texts()
    assert [h.strip().casefold() for h in headings] == ["sales", "finance", "service"]
    assert page.goto(base + "/app/approvals_x").status in (404, 403)
    context.close()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "sam", "sam-password")
    headings = page.locator("nav .nav-heading").all_inner_texts()
    assert [h.strip().casefold() for h in headings] == ["sales", "service"]  # no finance
    sales = page.locator("nav .nav-group").first.locator("a").all_inner_texts()
    assert sales == ["Accounts", "Contacts"]  # in the section's order; no deals for him
    page.goto(base + f"/app/account/{rita_account}")
    assert page.locator("[data-field=annual_revenue]").count() == 0  # annual_revenue: none
    assert "annual_revenue" not in page.content()
    assert page.goto(base + "/app/account/new").status == 403  # read-only role
    options = page.request.get(base + "/app/lead/options?q=x")
    assert options.status in (403, 404)  # a fragment is as protected as its page
    context.close()


def test_fragments_and_pages_need_a_session(page, site):
    env, base = site
    for path in ("/app", "/app/account", "/app/account/options?q=a", "/app/account/new"):
        response = page.request.get(base + path, max_redirects=0)
        assert response.status == 302 and response.headers["location"].startswith("/login")
    form = page.request.post(base + "/app/account/new", form={"name": "x"}, max_redirects=0)
    assert form.status in (302, 400)  # no session (and no CSRF token): nothing written
    assert env.api.get("/api/v1/records/account").json["data"] == []


def test_chinese_and_a_phone_screen(browser, site):
    env, base = site
    env.api.post("/api/v1/records/account", json={"name": "华为技术有限公司", "employees": 200000})
    context = browser.new_context(
        viewport={"width": 375, "height": 740},
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN"},
    )
    page = context.new_page()
    sign_in(page, base)
    assert page.locator("nav").is_hidden()  # collapsed behind the menu button
    page.click("[data-toggle-nav]")
    assert "客户" in page.locator("nav").inner_text()
    page.click("nav >> text=客户")
    page.wait_for_url(base + "/app/account")
    assert page.locator("text=新建").count() >= 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"sideways scrolling: {width}px"
    shot(page, "list-phone-zh")
    page.click("table.records tbody a")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert "200,000" in page.inner_text("[data-field=employees]")
    shot(page, "record-phone-zh")
    with page.expect_navigation():
        page.select_option("#lang", "en")  # the switch in the shell; remembered
    assert page.locator("text=Edit").count() == 1
    context.close()


def test_global_search_finds_records_of_every_entity(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme Trading"}).json["id"]
    env.api.post("/api/v1/records/contact", json={"last_name": "Acme-Li", "account": acme})
    env.api.post("/api/v1/records/account", json={"name": "Bolt Energy"})
    sign_in(page, base)
    page.fill("#global-q", "acme")
    page.press("#global-q", "Enter")
    page.wait_for_url(re.compile(r".*/app/search\?q=acme$"))
    assert page.locator("[data-entity=account] li").all_inner_texts()[0].startswith("Acme Trading")
    assert "Bolt" not in page.inner_text("main")
    page.click("[data-entity=account] a:has-text('Acme Trading')")
    page.wait_for_url(base + f"/app/account/{acme}")


def test_delete_asks_once_and_can_be_undone(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    sign_in(page, base)
    page.goto(base + f"/app/account/{acme}")
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("button:has-text('Delete')")
    assert asked and "recycle bin" in asked[0]
    assert env.api.get(f"/api/v1/records/account/{acme}").status_code == 200  # kept
    page.once("dialog", lambda d: d.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_url(base + "/app/account")
    assert "recycle bin" in page.inner_text("[role=status]")
    assert env.api.get(f"/api/v1/records/account/{acme}").status_code == 404
    page.click("button:has-text('Undo delete')")
    page.wait_for_url(base + f"/app/account/{acme}")
    assert page.inner_text("[role=status]") == "Restored."
    assert env.api.get(f"/api/v1/records/account/{acme}").status_code == 200


def test_bulk_delete_and_export_keep_the_lists_filters(page, site):
    env, base = site
    for name in ("Acme", "Bolt", "Coda"):
        env.api.post("/api/v1/records/account", json={"name": name})
    sign_in(page, base)
    page.goto(base + "/app/account?sort=name")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Account name" in text.splitlines()[0] and "Bolt" in text  # field labels as headers
    rows = page.locator("table.records tbody tr")
    rows.filter(has_text="Acme").locator("input[name=ids]").check()
    rows.filter(has_text="Coda").locator("input[name=ids]").check()
    page.once("dialog", lambda d: d.accept())
    page.click("button:has-text('Delete selected')")
    page.wait_for_url(base + "/app/account")
    assert page.inner_text("[role=status]") == "Deleted 2 to the recycle bin."
    assert [r["name"] for r in env.api.get("/api/v1/records/account").json["data"]] == ["Bolt"]


def test_a_stale_save_shows_both_versions_then_reload_or_overwrite(page, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme", "employees": 10}).json
    sign_in(page, base)
    page.goto(base + f"/app/account/{acme['id']}/edit")
    env.api.patch(  # a colleague saves first
        f"/api/v1/records/account/{acme['id']}", json={"employees": 20, "version": acme["version"]}
    )
    page.fill("input[name=employees]", "30")
    with page.expect_response(lambda r: r.request.method == "POST") as saved:
        page.click(SAVE)
    assert saved.value.status == 409
    row = page.locator("[data-conflict=employees]").inner_text().split("\t")
    assert row == ["Employees", "20", "30"]
    assert page.input_value("input[name=employees]") == "30"  # nothing typed is lost
    page.click(SAVE)  # again: overwrite, knowingly
    page.wait_for_url(base + f"/app/account/{acme['id']}")
    assert env.api.get(f"/api/v1/records/account/{acme['id']}").json["employees"] == 30


def test_the_filter_sidebar_counts_values_and_filters_by_a_click(page, site):
    env, base = site
    for name, industry in (("Acme", "retail"), ("Bolt", "energy"), ("Coda", "retail")):
        env.api.post("/api/v1/records/account", json={"name": name, "industry": industry})
    sign_in(page, base)
    page.goto(base + "/app/account")
    industry = page.locator("[data-facet=industry]")
    industry.locator("a").first.wait_for()  # the sidebar loads after the list (htmx)
    shown = [" ".join(t.split()) for t in industry.locator("a").all_inner_texts()]
    assert shown == ["Retail 2", "Energy 1"]  # the options' order, values with records only
    industry.locator("a", has_text="Retail").click()
    page.wait_for_url(base + "/app/account?industry=retail")
    industry.locator("a[aria-current]").wait_for()
    names = page.locator("table.records tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(names) == ["Acme", "Coda"]
    assert " ".join(industry.locator("a[aria-current]").inner_text().split()) == "Retail 2"
    industry.locator("a", has_text="Retail").click()  # again: cleared
    page.wait_for_url(base + "/app/account?")
    assert page.locator("table.records tbody tr").count() == 3
