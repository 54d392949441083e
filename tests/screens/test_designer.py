"""The designer's first screens: /setup for administrators only (403 for others, the
login page when signed out); a business admin adds a pick-list field to accounts in the
browser, previews the schema change, applies it, and the record form has it at once;
bad input is named next to its control and changes nothing."""

import re

import yaml

from metacrm.default_app import PACKAGE_DIR
from tests.conftest import user
from tests.screens.conftest import current_form, shot, sign_in


def session(env, username="admin", password="admin-password"):
    client = env.app.test_client()
    client.post(
        "/login",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": client.get("/login").json["csrf_token"]},
    )
    return client


def csrf(client, path: str) -> str:
    html = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_only_administrators_may_open_setup(site):
    env, _ = site
    user(env, "rita", ["sales_rep"])
    rita = session(env, "rita", "rita-password")
    for path in ("/setup", "/setup/entities/account", "/setup/entities/account/fields/new"):
        assert rita.get(path, headers={"Accept": "text/html"}).status_code == 403
    token = csrf(rita, "/app")
    posted = rita.post(
        "/setup/entities/account/fields/new",
        data={"csrf_token": token, "name": "x", "label": "X", "type": "text"},
    )
    assert posted.status_code == 403
    assert "x" not in env.api.get("/api/v1/meta/entities/account").json["fields"]
    admin = session(env)
    forged = admin.post("/setup/entities/new", data={"name": "x", "label": "X", "plural": "Xs"})
    assert forged.status_code == 400  # no CSRF token: refused, even for an administrator
    names = [e["name"] for e in env.api.get("/api/v1/meta/entities").json["data"]]
    assert "x" not in names
    anonymous = env.app.test_client().get("/setup", headers={"Accept": "text/html"})
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login")


def test_bad_input_is_named_beside_its_control_and_changes_nothing(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/account/fields/new"
    token = csrf(admin, path)
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]

    def post(**form):
        answer = admin.post(path, data={"csrf_token": token, **form})
        assert answer.status_code == 422
        return answer.get_data(as_text=True)

    bad_name = post(name="Bad Name", label="Bad", type="text")
    assert 'id="e-name"' in bad_name and "a-z, 0-9 and _" in bad_name
    taken = post(name="website", label="Site", type="text")
    assert "already has a field named website" in taken
    no_options = post(name="tier", label="Tier", type="select", options="\n \n")
    assert 'id="e-options"' in no_options and "one per line" in no_options
    twice = post(name="tier", label="Tier", type="select", options="Gold\nGold")
    assert "Each option once: Gold" in twice
    formula = post(
        name="score", label="Score", type="formula", expression="employees +", result_type="integer"
    )
    assert 'id="e-expression"' in formula  # the compiler's message, beside the formula
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before


def test_a_label_typed_before_the_script_loads_still_names_the_field(page, site):
    """On a slow connection people type before layout.js runs: the API name catches up."""
    from playwright.sync_api import expect

    env, base = site
    sign_in(page, base)
    held = []
    page.route("**/assets/layout.js", lambda route: held.append(route))  # held until we say
    page.goto(base + "/setup/entities/account/fields/new", wait_until="commit")
    page.wait_for_selector("#f-label")
    page.fill("#f-label", "Deal type")
    assert held and page.input_value("#f-name") == ""
    held[0].continue_()
    expect(page.locator("#f-name")).to_have_value("deal_type")


def test_add_a_pick_list_field_and_use_it_at_once(page, site):
    env, base = site
    sign_in(page, base)
    page.click("nav >> text=Setup")
    assert page.locator("[data-entity=account] .pill").inner_text() == "Base"
    page.click("[data-entity=account] a")
    page.click("text=New field")
    page.fill("#f-label", "Tier")
    page.fill("#f-label_zh", "等级")
    page.fill("#f-name", "tier")
    page.select_option("#f-type", "select")
    assert page.locator("#f-expression").is_hidden()  # only the chosen type's settings
    page.fill("#f-options", "Gold\nSilver\nBronze")
    page.click("button[name=preview]")
    assert "add_column" in page.inner_text("[data-plan]") and "account.tier" in page.inner_text(
        "[data-plan]"
    )
    fields = env.api.get("/api/v1/meta/entities/account").json["fields"]
    assert "tier" not in [f["name"] for f in fields]  # a preview changes nothing
    shot(page, "designer-new-field-desktop-en")
    page.click("button.primary:has-text('Add field')")
    page.wait_for_url(base + "/setup/entities/account")
    assert "Tier" in page.inner_text(".flash")
    assert page.locator("[data-field=tier] .pill").inner_text() == "This tenant"

    page.goto(base + "/app/account/new")  # the record form has it, with its options
    options = page.locator("select[name=tier] option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", "Gold", "Silver", "Bronze"]
    page.fill("input[name=name]", "Acme")
    page.select_option("select[name=tier]", "Silver")
    page.click("form.record-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    assert page.inner_text("[data-field=tier]") == "Silver"
    [acme] = env.api.get("/api/v1/records/account").json["data"]
    assert acme["tier"] == "Silver"
    fields = {f["name"]: f for f in env.api.get("/api/v1/meta/entities/account").json["fields"]}
    assert fields["tier"]["label"] == {"en": "Tier", "zh-CN": "等级"}
    assert page.console_errors == []


def test_relabel_reorder_color_deactivate_and_add_options_hide_a_field(site):
    env, _ = site
    env.api.post("/api/v1/records/account", json={"name": "Shop", "industry": "retail"})
    admin = session(env)
    path = "/setup/entities/account/fields/industry"
    form = current_form(admin, path)
    values = form["opt"]
    assert values[:3] == ["manufacturing", "retail", "technology"]
    form["csrf_token"] = [csrf(admin, path)]
    form["label_zh"] = ["所属行业"]

    gone = admin.post(path, data={**form, "opt_remove.retail": ["true"]})
    assert gone.status_code == 422  # a shop is in retail: that option stays
    assert "1 records still have retail" in gone.get_data(as_text=True)

    # technology first, relabelled and green; retail kept for the shop but offered no more
    form["opt"] = ["technology", "retail", "manufacturing", *values[3:]]
    form["opt_label.technology"] = ["Tech"]
    form["opt_color.technology"] = ["#16a34a"]
    form["opt_active.retail"] = []
    form["new_opt_label"] = ["Agriculture", "", ""]
    form["new_opt_label_zh"] = ["农业", "", ""]
    saved = admin.post(path, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    fields = {f["name"]: f for f in env.api.get("/api/v1/meta/entities/account").json["fields"]}
    industry = fields["industry"]
    assert industry["label"]["zh-CN"] == "所属行业"
    by_value = {o["value"]: o for o in industry["options"]}
    assert [o["value"] for o in industry["options"]][:3] == [
        "technology",
        "retail",
        "manufacturing",
    ]
    assert by_value["technology"]["label"]["en"] == "Tech"
    assert by_value["technology"]["color"] == "#16a34a"
    assert by_value["retail"]["active"] is False
    assert by_value["agriculture"]["label"] == {"en": "Agriculture", "zh-CN": "农业"}

    new_form = admin.get("/app/account/new", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'value="retail"' not in new_form and 'value="agriculture"' in new_form
    shop = env.api.get("/api/v1/records/account").json["data"][0]["id"]
    edit = admin.get(f"/app/account/{shop}/edit", headers={"Accept": "text/html"})
    assert 'value="retail" selected' in edit.get_data(as_text=True)  # still the shop's
    tech = env.api.post("/api/v1/records/account", json={"name": "Bit", "industry": "technology"})
    page = admin.get(f"/app/account/{tech.json['id']}", headers={"Accept": "text/html"})
    assert '<span class="opt opt-16a34a">Tech</span>' in page.get_data(as_text=True)
    css = admin.get("/app/options.css").get_data(as_text=True)
    assert ".opt-16a34a{--opt:#16a34a}" in css

    website = "/setup/entities/account/fields/website"
    current = admin.get(website, headers={"Accept": "text/html"}).get_data(as_text=True)
    label = re.search(r'id="f-label" name="label" value="([^"]*)"', current).group(1)
    hidden = admin.post(
        website, data={"csrf_token": form["csrf_token"], "label": label, "hidden": "true"}
    )
    assert hidden.status_code == 302
    form_page = admin.get("/app/account/new", headers={"Accept": "text/html"}).get_data(
        as_text=True
    )
    assert 'name="website"' not in form_page and 'name="industry"' in form_page
    assert "agriculture" in form_page


def test_history_lists_each_change_and_reverts_without_losing_data(site):
    env, _ = site
    admin = session(env)
    meta = "/api/v1/meta/entities"
    env.api.post(f"{meta}/account/fields", json={"name": "tier", "type": "text", "label": "Tier"})
    with_tier = env.api.get(meta).json["content_hash"]
    env.api.patch(f"{meta}/account/fields/industry", json={"label": {"en": "Sector"}})
    page = admin.get("/setup/history", headers={"Accept": "text/html"}).get_data(as_text=True)
    newest, older = re.findall(r'data-version="(\d+)"', page)
    assert "<code>extend.account.modify.industry</code> added" in page
    assert "<code>extend.account.fields.tier</code> added" in page
    token = csrf(admin, "/setup/history")

    back = admin.post(f"/setup/history/{older}/revert", data={"csrf_token": token})
    assert back.status_code == 302
    assert env.api.get(meta).json["content_hash"] == with_tier  # the same model again
    fields = {f["name"]: f for f in env.api.get(f"{meta}/account").json["fields"]}
    assert fields["industry"]["label"]["en"] == "Industry"

    refused = admin.post(
        "/setup/history/original/revert", data={"csrf_token": token}, follow_redirects=True
    )
    text = refused.get_data(as_text=True)
    assert "Not reverted: it would remove data" in text and "tier" in text
    assert env.api.get(meta).json["content_hash"] == with_tier  # nothing changed
    assert int(newest) > int(older)


def test_the_formula_box_checks_as_you_type(page, site):
    env, base = site
    from playwright.sync_api import expect

    sign_in(page, base)
    page.goto(base + "/setup/entities/account/fields/new")
    page.select_option("#f-type", "formula")
    page.select_option("#f-result_type", "integer")
    with page.expect_response(lambda r: r.url.endswith("/expression-check")):
        page.fill("#f-expression", "employees +")
    problem = page.locator("[data-check=error]")
    expect(problem).to_be_visible()
    assert "column" in problem.inner_text()
    with page.expect_response(lambda r: r.url.endswith("/expression-check")):
        page.fill("#f-expression", "employees * 2")
    expect(page.locator("[data-check=ok]")).to_have_text("Fine: it gives integer.")
    with page.expect_response(lambda r: r.url.endswith("/expression-check")):
        page.fill("#f-expression", "name * 2")
    expect(page.locator("[data-check=error]")).to_be_visible()
    user(env, "rita", ["sales_rep"])
    rita = session(env, "rita", "rita-password")
    token = csrf(rita, "/app")
    denied = rita.post(
        "/setup/entities/account/expression-check",
        data={"csrf_token": token, "expression": "1"},
    )
    assert denied.status_code == 403  # a fragment is as protected as its page
    assert page.console_errors == []


def test_export_then_import_into_another_tenant_gives_the_same_model(site):
    import io

    from metacrm.platform.access import auth
    from tests.conftest import Api

    env, _ = site
    meta = "/api/v1/meta/entities"
    env.api.post(
        f"{meta}/account/fields",
        json={"name": "tier", "type": "select", "options": ["Gold", "Silver"]},
    )
    env.api.patch(
        f"{meta}/account/fields/industry", json={"label": {"en": "Sector", "zh-CN": "领域"}}
    )
    role = yaml.safe_load((PACKAGE_DIR / "roles" / "sales_rep.yaml").read_text())
    role["description"] = "Works their own deals; no exports."
    env.runtime.tenants.update_overlay(  # a whole document travels too
        "default", lambda o: {**o, "documents": {"role": {"sales_rep": role}}}
    )
    source_hash = env.api.get(meta).json["content_hash"]
    admin = session(env)
    zipped = admin.get("/setup/export")
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"

    other = env.runtime.tenants.create("other")
    boss = auth.create_user(other, "boss", "boss-password", is_admin=True)
    other_api = Api(env.app.test_client(), auth.create_token(other, boss), "other")
    assert other_api.get(meta).json["content_hash"] != source_hash
    client = env.app.test_client()
    client.post(
        "/login",
        json={"tenant": "other", "username": "boss", "password": "boss-password"},
        headers={"X-CSRFToken": client.get("/login").json["csrf_token"]},
    )
    token = csrf(client, "/setup/import")

    def send(data: bytes):
        return client.post(
            "/setup/import",
            data={"csrf_token": token, "package": (io.BytesIO(data), "default_overlay.zip")},
            content_type="multipart/form-data",
        )

    assert send(zipped.data).status_code == 302
    assert other_api.get(meta).json["content_hash"] == source_hash  # the same model

    other_api.patch(f"{meta}/account/fields/tier", json={"label": "Level"})
    changed = other_api.get(meta).json["content_hash"]
    clash = send(zipped.data)
    assert clash.status_code == 422
    assert "account.fields.tier: this tenant has another value" in clash.get_data(as_text=True)
    assert other_api.get(meta).json["content_hash"] == changed  # nothing applied
    assert send(b"not a zip").status_code == 422


def test_create_an_entity_then_use_it(site):
    env, _ = site
    admin = session(env)
    token = csrf(admin, "/setup/entities/new")
    form = {"csrf_token": token, "label": "Course", "plural": "Courses", "label_zh": "课程"}
    assert admin.post("/setup/entities/new", data={**form, "name": "account"}).status_code == 422
    bad = admin.post("/setup/entities/new", data={**form, "name": "Course!"})
    assert bad.status_code == 422 and 'id="e-name"' in bad.get_data(as_text=True)
    made = admin.post(
        "/setup/entities/new", data={**form, "name": "course", "nav_section": "Service"}
    )
    assert made.status_code == 302 and made.location.endswith("/setup/entities/course")
    shell = admin.get("/app", headers={"Accept": "text/html"}).get_data(as_text=True)
    service = shell.split(">Service<")[1].split("</ul>")[0]  # in its menu section
    assert "/app/course" in service
    new_form = admin.get("/app/course/new", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'name="name"' in new_form
    token = csrf(admin, "/app/course/new")
    saved = admin.post("/app/course/new", data={"csrf_token": token, "name": "Safety 101"})
    assert saved.status_code == 302
    assert env.api.get("/api/v1/records/course").json["data"][0]["name"] == "Safety 101"
    home = admin.get("/setup", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-entity="course"' in home and "This tenant" in home


def test_setup_fits_a_phone_in_chinese(browser, site):
    env, base = site
    context = browser.new_context(viewport={"width": 375, "height": 780}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base)
    for path in ("/setup", "/setup/entities/account", "/setup/entities/account/fields/new"):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways ({width}px)"
    assert page.inner_text("h1").startswith("为")  # "为客户新建字段"
    shot(page, "designer-new-field-phone-zh")
    page.goto(base + "/setup/entities/account")
    shot(page, "designer-entity-phone-zh")
    for path in (
        "/setup/entities/account/fields/industry",  # the options
        "/setup/entities/opportunity/layout",
        "/setup/pipelines/sales",
        "/setup/entities/contract/pipelines/new",
        "/setup/approvals/quote_discount",
        "/setup/roles/sales_rep",
    ):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways ({width}px)"
    fits = "t => t.scrollWidth <= t.parentElement.clientWidth"  # rows are cards: no scroll
    for path, table in (
        ("/setup/entities/contract/pipelines/new", "table.stage-rows"),
        ("/setup/entities/account/fields/industry", "table.option-rows"),
    ):
        page.goto(base + path)
        assert page.locator(table).evaluate(fits), f"{table} scrolls on a phone"
    shot(page, "designer-options-phone-zh")
    context.close()


def test_a_number_field_with_bounds_and_a_default_expression(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/opportunity/fields/new"
    token = csrf(admin, path)
    base = {"csrf_token": token, "label": "Seats", "name": "seats", "type": "integer"}
    bad = admin.post(path, data={**base, "min": "one"})
    assert bad.status_code == 422 and 'id="e-min"' in bad.get_data(as_text=True)
    wrong = admin.post(path, data={**base, "min": "1", "default_expression": "'many'"})
    assert wrong.status_code == 422  # a text default for a number: the compiler says so
    assert 'id="e-default_expression"' in wrong.get_data(as_text=True)
    made = admin.post(path, data={**base, "min": "1", "max": "500", "default_expression": "10"})
    assert made.status_code == 302
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    deal = env.api.post("/api/v1/records/opportunity", json={"name": "D", "account": acme})
    assert deal.json["seats"] == 10  # the default
    over = env.api.patch(f"/api/v1/records/opportunity/{deal.json['id']}", json={"seats": 900})
    assert over.status_code == 422 and over.json["errors"][0]["field"] == "seats"


def test_a_rollup_and_typed_defaults_from_the_new_field_form(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/account/fields/new"
    token = csrf(admin, path)
    base = {"csrf_token": token, "type": "rollup"}
    total = {
        **base,
        "name": "won_total",
        "label": "Won total",
        "rollup_link": "opportunity.account",
        "rollup_function": "sum",
        "rollup_field": "opportunity.amount",
        "rollup_filter": "stage = 'closed_won'",
    }
    assert admin.post(path, data=total).status_code == 302
    count = {**base, "name": "deals", "label": "Deals", "rollup_link": "opportunity.account"}
    assert admin.post(path, data=count).status_code == 302
    wrong = {**total, "name": "bad", "rollup_field": "contact.last_name"}
    assert 'id="e-rollup_field"' in admin.post(path, data=wrong).get_data(as_text=True)

    tier = {
        "csrf_token": token,
        "name": "tier",
        "label": "Tier",
        "type": "select",
        "options": "Gold\nSilver",
        "default": "Silver",
    }
    assert admin.post(path, data=tier).status_code == 302
    vip = {"csrf_token": token, "name": "vip", "label": "VIP", "type": "boolean", "default": "yes"}
    assert admin.post(path, data=vip).status_code == 302
    for bad, value in (("integer", "many"), ("select", "Bronze"), ("boolean", "maybe")):
        form = {"csrf_token": token, "name": "x", "label": "X", "type": bad, "default": value}
        form["options"] = "Gold"
        answer = admin.post(path, data=form)
        assert answer.status_code == 422 and 'id="e-default"' in answer.get_data(as_text=True)

    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json
    assert account["tier"] == "Silver" and account["vip"] is True
    contact = env.api.post(
        "/api/v1/records/contact", json={"last_name": "Li", "account": account["id"]}
    ).json["id"]
    for amount, stage in ((100, "closed_won"), (50, "prospecting")):
        deal = {
            "name": "D",
            "account": account["id"],
            "primary_contact": contact,
            "amount": amount,
            "close_date": "2027-01-01",
            "stage": stage,
            "lost_reason": None,
        }
        made = env.api.post("/api/v1/records/opportunity", json=deal)
        assert made.status_code == 201, made.json
    again = env.api.get(f"/api/v1/records/account/{account['id']}").json
    assert float(again["won_total"]) == 100 and again["deals"] == 2


def test_conditions_on_a_field_show_and_require_it_on_the_form(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/opportunity/fields/lost_reason"
    form = current_form(admin, path)
    form["csrf_token"] = [csrf(admin, path)]
    refused = admin.post(path, data={**form, "visible_if": ["stage = "]})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="e-visible_if"' in html, html[:2000]
    form["visible_if"] = ["stage = 'closed_lost'"]
    assert admin.post(path, data=form).status_code == 302
    field = env.state().model.entities["opportunity"].fields["lost_reason"]
    assert field.visible_if == "stage = 'closed_lost'"
    new = admin.get("/app/opportunity/new", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert re.search(r'id="w-lost_reason"[^>]*hidden', new)  # a new deal is not lost
    form["visible_if"] = [""]
    assert admin.post(path, data=form).status_code == 302
    assert env.state().model.entities["opportunity"].fields["lost_reason"].visible_if is None


def test_entity_settings_rename_a_package_entity_and_title_a_tenant_one(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/account/settings"
    form = current_form(admin, path)
    assert form["label"] == ["Account"] and "title_field" not in form  # a package decides
    form["csrf_token"] = [csrf(admin, path)]
    form.update({"plural": ["Customers"], "plural_zh": ["客户"], "icon": ["🏢"]})
    assert admin.post(path, data=form).status_code == 302
    shell = admin.get("/app", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "🏢</span> Customers" in shell
    assert env.state().model.entities["account"].plural["en"] == "Customers"
    assert admin.post(path, data={**form, "plural": [""]}).status_code == 422

    token = form["csrf_token"][0]
    course = {"csrf_token": token, "name": "course", "label": "Course", "plural": "Courses"}
    assert admin.post("/setup/entities/new", data={**course, "icon": "🎓"}).status_code == 302
    code = {"csrf_token": token, "name": "code", "label": "Code", "type": "text"}
    assert admin.post("/setup/entities/course/fields/new", data=code).status_code == 302
    path = "/setup/entities/course/settings"
    form = current_form(admin, path)
    assert form["title_field"] == ["name"] and form["icon"] == ["🎓"]
    form["csrf_token"] = [token]
    form["title_field"] = ["code"]
    form["nav_section"] = ["Sales"]
    assert admin.post(path, data=form).status_code == 302
    made = env.api.post("/api/v1/records/course", json={"name": "Safety", "code": "S-1"}).json
    page = admin.get(f"/app/course/{made['id']}", headers={"Accept": "text/html"})
    assert "<h1>S-1" in page.get_data(as_text=True).replace("\n", "").replace("  ", "")
    assert admin.post(path, data={**form, "title_field": ["nope"]}).status_code == 422
