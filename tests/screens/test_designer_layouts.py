"""The designer's layout editors: an admin drags a field into the form's first section
(or picks its section from a menu), sets a section's title and columns, previews the
result with the plan and the metadata diff, saves, and the record form follows; the
default list view's columns and sort likewise. Saved as overlay view documents."""

import re

from playwright.sync_api import expect

from tests.screens.conftest import current_form, shot, sign_in
from tests.screens.test_designer import csrf, session


def form_sections(html: str) -> list[list[str]]:
    """The record form's sections, each as the names of its controls in order."""
    parts = html.split('<fieldset class="card">')[1:]
    return [re.findall(r'id="w-([a-z0-9_]+)"', part) for part in parts]


def test_drag_a_field_into_the_first_section_preview_then_save(page, site):
    env, base = site
    sign_in(page, base)
    page.goto(base + "/setup/entities/opportunity/layout")
    first = page.locator(".layout-fields[data-section='0']")
    assert first.locator("[data-field=name]").count() == 1  # the package's layout
    # drag "next step" from the second section to the top of the first (both on screen:
    # Playwright's drag does not scroll in between, a person's drag does)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.locator("[data-field=next_step] .grip").drag_to(first.locator("[data-field=account]"))
    expect(page.locator("#p-next_step")).to_have_value("0")
    # and move the description with its menu, into a new, titled one-column section
    page.click("button[name=add_section]")
    page.fill("#s-2-label", "Notes")
    page.fill("#s-2-label_zh", "备注")
    page.select_option("#s-2-columns", "1")
    page.select_option("#p-description", "2")
    expect(page.locator(".layout-fields[data-section='2'] [data-field=description]")).to_have_count(
        1
    )
    page.click("button[name=preview]")
    preview = page.locator("[data-preview]")
    expect(preview).to_contain_text("Notes")
    assert "+" in page.inner_text("[data-diff]") and "next_step" in page.inner_text("[data-diff]")
    assert "No table changes" in page.inner_text("[data-plan]")
    shot(page, "designer-layout-preview")
    assert not [v for v in env.state().model.views if v == "opportunity_form_x"]
    page.click("form.layout-editor button.primary")
    expect(page.locator(".flash")).to_contain_text("saved")

    admin = session(env)
    form = admin.get("/app/opportunity/new", headers={"Accept": "text/html"}).get_data(as_text=True)
    sections = form_sections(form)
    assert "next_step" in sections[0] and sections[0].index("next_step") < sections[0].index(
        "account"
    )
    assert sections[2] == ["description"] and "cols-1" in form
    assert "Notes" in form
    assert page.console_errors == []


def test_a_layout_without_fields_is_refused_and_nothing_changes(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/account/layout"
    token = csrf(admin, path)
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    refused = admin.post(path, data={"csrf_token": token, "section_label": "Empty"})
    assert refused.status_code == 422
    assert "at least one field" in refused.get_data(as_text=True)
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before
    saved = admin.post(
        path,
        data={
            "csrf_token": token,
            "section_label": ["Main", "More"],
            "section_label_zh": ["主要", ""],
            "section_columns": ["3", ""],
            "order": ["industry", "name", "website"],
            "place.industry": "0",
            "place.name": "0",
            "place.website": "1",
        },
    )
    assert saved.status_code == 302
    views = env.state().model.views.values()
    [form] = [v for v in views if v.entity == "account" and v.kind == "form"]
    assert form.sections[0].fields == ("industry", "name")
    assert form.sections[0].columns == 3
    assert dict(form.sections[0].label) == {"en": "Main", "zh-CN": "主要"}
    assert form.sections[1].fields == ("website",) and form.sections[1].columns is None


def test_list_columns_and_default_sort(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/opportunity/list-view"
    token = csrf(admin, path)
    none = admin.post(path, data={"csrf_token": token, "order": ["name"]})
    assert none.status_code == 422 and "at least one column" in none.get_data(as_text=True)
    saved = admin.post(
        path,
        data={
            "csrf_token": token,
            "order": ["amount", "name", "stage", "close_date"],
            "column": ["name", "amount", "stage"],
            "sort": "close_date",
            "direction": "asc",
        },
    )
    assert saved.status_code == 302
    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    for name, close in (("Later", "2027-03-01"), ("Sooner", "2027-01-01")):
        opportunity = {"name": name, "account": account, "amount": 5, "close_date": close}
        assert env.api.post("/api/v1/records/opportunity", json=opportunity).status_code == 201
    listing = admin.get("/app/opportunity", headers={"Accept": "text/html"}).get_data(as_text=True)
    heads = re.findall(r'data-column="([a-z_]+)"', listing)
    assert listing.index("Sooner") < listing.index("Later")  # the default sort
    assert 'data-column="close_date"' not in listing
    assert heads[:3] == ["amount", "name", "stage"], heads


def test_related_lists_chosen_and_ordered(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/account/layout"
    form = current_form(admin, path, "record-form layout-editor")
    links = form["related_order"]
    assert "contact.account" in links and "opportunity.account" in links
    assert sorted(form["related"]) == sorted(links)  # every one, by default
    form["csrf_token"] = [csrf(admin, path)]
    form["related_order"] = ["opportunity.account", "contact.account"] + [
        link for link in links if link not in ("opportunity.account", "contact.account")
    ]
    form["related"] = ["opportunity.account", "contact.account"]
    assert admin.post(path, data=form).status_code == 302
    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    page = admin.get(f"/app/account/{account}", headers={"Accept": "text/html"})
    shown = re.findall(r'data-related="([a-z_]+)"', page.get_data(as_text=True))
    assert list(dict.fromkeys(shown)) == ["opportunity", "contact"]
    bad = {**form, "related": ["lead.owner_id"], "related_order": ["lead.owner_id"]}
    assert admin.post(path, data=bad).status_code == 302  # not a link to accounts: ignored
    view = next(v for v in env.state().model.views.values() if v.entity == "account")
    assert view.related == ()  # so none is ticked: the page shows no related list
    page = admin.get(f"/app/account/{account}", headers={"Accept": "text/html"})
    assert "data-related=" not in page.get_data(as_text=True)
