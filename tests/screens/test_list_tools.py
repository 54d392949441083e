"""The list's tools in a real browser, as a sales manager uses them: a filter built per
field type (removable chips), an expression filter with its error, the column chooser,
totals over every matching record, a saved view (mine only), bulk assign; and the
profile: the language saved for the next sign-in, a password change."""

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import user
from tests.screens.conftest import shot, sign_in

NAME = "Opportunity name"


def deals(env) -> dict[str, int]:
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    ids = {}
    for name, amount in [("Small", 1000), ("Medium", 40000), ("Large", 90000), ("Huge", 250000)]:
        ids[name] = env.api.post(
            "/api/v1/records/opportunity",
            json={"name": name, "account": acme, "amount": amount, "close_date": "2026-12-31"},
        ).json["id"]
    return ids


def names(page) -> list[str]:
    """The name column's cells, wherever the column chooser put it."""
    headers = [h.strip() for h in page.locator("table.records thead th").all_inner_texts()]
    column = next(i for i, h in enumerate(headers) if h.startswith(NAME)) + 1
    cells = page.locator(f"table.records tbody td:nth-child({column})").all_inner_texts()
    return [c.strip() for c in cells]


def shows(page, wanted: list[str]) -> None:
    """Wait until the list shows these names (in any order): a click on a view, a chip or
    a filter navigates, and a read taken mid-navigation finds no table yet."""
    seen: list[str] | None = None
    for _ in range(50):
        try:
            seen = sorted(names(page))
        except (StopIteration, PlaywrightError):  # the page was between documents
            seen = None
        if seen == sorted(wanted):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the list shows {seen}, not {sorted(wanted)}")


def test_filter_columns_totals_and_a_saved_view(page, site):
    env, base = site
    deals(env)
    sign_in(page, base)
    page.goto(base + "/app/opportunity")
    shows(page, ["Huge", "Large", "Medium", "Small"])

    page.click("[data-tool=filter] summary")
    with page.expect_response(lambda r: "/filter-input" in r.url):
        page.select_option("select[name=f_field]", "amount")
    expect(page.locator("#f-value")).to_have_attribute("type", "number")  # per field type
    page.select_option("select[name=f_op]", "gte")
    page.fill("#f-value", "40000")
    page.click(".filter-builder button.primary")
    page.wait_for_url("**amount__gte=40000**")
    shows(page, ["Huge", "Large", "Medium"])
    assert page.inner_text("[data-chip=amount]").startswith("Amount ≥ 40,000")

    page.click("[data-tool=totals]")
    page.wait_for_url("**totals=1**")
    assert page.inner_text("[data-total=amount]") == "380,000.00"  # every match, not a page

    page.click("[data-tool=columns] summary")
    page.check(".column-chooser input[value=owner_id]")
    page.uncheck(".column-chooser input[value=close_date]")
    page.click(".column-chooser button.primary")
    page.wait_for_url("**columns=**")
    headers = page.locator("table.records thead th").all_inner_texts()
    assert "Owner" in headers and "Close date" not in headers
    assert "admin" in page.locator("table.records tbody tr").first.inner_text()
    shot(page, "list-tools-desktop-en")

    page.click("[data-tool=save-view] summary")
    page.fill("#view-name", "Big deals")
    page.click("[data-tool=save-view] button.primary")
    page.wait_for_url("**amount__gte=40000**")
    assert "Big deals" in page.inner_text(".flash")
    page.click("[data-view=opportunity_list]")
    shows(page, ["Huge", "Large", "Medium", "Small"])
    page.click("[data-saved-view='Big deals']")
    shows(page, ["Huge", "Large", "Medium"])
    assert page.locator("[data-saved-view='Big deals']").get_attribute("aria-current") == "page"
    assert "Owner" in page.locator("table.records thead th").all_inner_texts()

    page.click("[data-chip=amount] a")  # the chip's ✕ removes that filter only
    shows(page, ["Huge", "Large", "Medium", "Small"])
    assert "Owner" in page.locator("table.records thead th").all_inner_texts()

    page.click("[data-tool=filter] summary")
    page.click(".advanced summary")
    page.fill("#f-expression", "amount >")
    page.click("text=Apply expression")
    assert "This filter cannot run" in page.inner_text("[role=alert]")
    assert page.locator("[data-chip=filter]").count() == 1  # to take it away again
    assert page.input_value("#f-expression") == "amount >"  # open, as typed, to correct
    page.fill("#f-expression", "amount < 50000 and name != 'Small'")
    page.click("text=Apply expression")
    shows(page, ["Medium"])
    assert page.console_errors == []


def test_saved_views_are_each_users_own(browser, site):
    env, base = site
    user(env, "rita", ["sales_rep"])
    state = env.app.extensions["metacrm"].tenant("default")
    table = state.system["saved_views"]
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base)
    page.goto(base + "/app/account?columns=name")
    page.click("[data-tool=save-view] summary")
    page.fill("#view-name", "Names only")
    page.click("[data-tool=save-view] button.primary")
    page.wait_for_url("**columns=name**")
    with state.engine.connect() as conn:
        [view_id] = conn.execute(select(table.c.id)).scalars().all()
    context.close()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, "rita", "rita-password")
    page.goto(base + "/app/account")
    assert page.locator("[data-saved-view]").count() == 0
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    page.request.post(
        f"{base}/app/account/views/{view_id}/delete", form={"csrf_token": csrf}
    )  # someone else's view: nothing happens
    with state.engine.connect() as conn:
        assert conn.execute(select(table.c.id)).scalars().all() == [view_id]
    context.close()


def test_bulk_assign_gives_the_ticked_records_to_a_user(page, site):
    env, base = site
    ids = deals(env)
    rita, _ = user(env, "rita", ["sales_rep"])
    sign_in(page, base)
    page.goto(base + "/app/opportunity?sort=name")
    page.check(f"input[name=ids][value='{ids['Huge']}']")
    page.check(f"input[name=ids][value='{ids['Small']}']")
    page.select_option("#bulk-owner", str(rita))
    page.click("text=Assign selected")
    assert "Assigned 2 records." in page.inner_text(".flash")
    owners = {
        r["name"]: r["owner_id"] for r in env.api.get("/api/v1/records/opportunity").json["data"]
    }
    assert owners["Huge"] == owners["Small"] == rita
    assert owners["Large"] != rita
    history = env.api.get(f"/api/v1/records/opportunity/{ids['Huge']}/history").json["data"]
    assert any(h["field"] == "owner_id" and h["new"] == rita for h in history)


def test_a_sales_rep_may_not_assign_what_they_cannot_change(site):
    env, base = site
    ids = deals(env)  # the admin's
    _, rita_api = user(env, "rita", ["sales_rep"])
    client = env.app.test_client()
    client.post(
        "/login",
        json={"username": "rita", "password": "rita-password"},
        headers={"X-CSRFToken": client.get("/login").json["csrf_token"]},
    )
    token = client.get("/login").json["csrf_token"]
    answer = client.post(
        "/app/opportunity/bulk-assign",
        data={"ids": [str(ids["Huge"])], "owner": "1", "csrf_token": token},
        headers={"Accept": "text/html"},
    )
    assert answer.status_code in (403, 404)
    assert env.api.get(f"/api/v1/records/opportunity/{ids['Huge']}").json["owner_id"] == 1


def test_profile_language_is_kept_for_the_next_sign_in_and_password_changes(browser, site):
    env, base = site
    user(env, "rita", ["sales_rep"])
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, base, "rita", "rita-password")
    page.click(".nav-profile a")
    page.select_option("#profile-lang", "zh_CN")
    page.click("form[action$='/profile'] button")
    expect(page.locator("h1")).to_have_text("个人资料")  # the page after saving
    page.click("form[action='/logout'] button")
    sign_in(page, base, "rita", "rita-password")  # the browser still says en-US
    assert page.locator("nav a").first.inner_text() == "工作台"

    page.goto(base + "/app/profile")
    page.fill("#pw-current", "not my password")
    page.fill("#pw-new", "a new secret")
    page.fill("#pw-again", "a new secret")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#password-form button")
    assert posted.value.status == 422
    assert page.locator("#e-current").is_visible()
    page.console_errors = []
    page.fill("#pw-current", "rita-password")
    page.fill("#pw-new", "a new secret")
    page.fill("#pw-again", "a new secret")
    page.click("#password-form button")
    expect(page.locator(".flash")).to_have_count(1)
    page.click("form[action='/logout'] button")
    sign_in(page, base, "rita", "a new secret")
    assert urlparse(page.url).path == "/app"
    context.close()


def test_an_idle_session_signs_out(site):
    env, _ = site
    client = env.app.test_client()
    client.post(
        "/login",
        json={"username": "admin", "password": "admin-password"},
        headers={"X-CSRFToken": client.get("/login").json["csrf_token"]},
    )
    assert client.get("/app", headers={"Accept": "text/html"}).status_code == 200
    idle = env.app.extensions["metacrm"].settings.session_idle_minutes
    with client.session_transaction() as session:
        session["seen"] -= idle * 60 + 1
    answer = client.get("/app", headers={"Accept": "text/html"})
    assert answer.status_code == 302
    assert parse_qs(urlparse(answer.location).query)["next"] == ["/app"]
    assert client.get("/api/v1/records/account").status_code == 401


def test_the_list_tools_fit_a_phone_in_chinese(browser, site):
    env, base = site
    deals(env)
    context = browser.new_context(viewport={"width": 375, "height": 780}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base)
    page.goto(base + "/app/opportunity?totals=1&amount__gte=1000")
    assert page.inner_text("[data-tool=filter] summary") == "筛选"
    assert page.inner_text("[data-chip=amount]").startswith("金额 ≥ 1,000")
    page.click("[data-tool=columns] summary")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways ({width}px)"
    shot(page, "list-tools-phone-zh")
    context.close()
