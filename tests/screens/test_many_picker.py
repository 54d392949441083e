"""A many-to-many field in a real browser: search the other entity, pick records, search
again without losing what was picked; the save stores the picked ids and the record page
names them."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import FIXTURES, _env_fixture
from tests.screens.conftest import serve, sign_in

SAVE = "form.record-form button[type=submit]"


@pytest.fixture
def types_site(tmp_path):
    yield from serve(_env_fixture(tmp_path, "sqlite", (FIXTURES / "types_pkg",)))


def test_pick_records_across_searches(page, types_site):
    env, base = types_site
    ids = {
        n: env.api.post("/api/v1/records/contact", json={"last_name": n}).json["id"]
        for n in ("Li", "Lindqvist", "Wang")
    }
    sign_in(page, base)
    page.goto(base + "/app/gadget/new")
    page.fill("input[name=title]", "Widget")
    picker = page.locator("select[name=related]")
    lookup = page.locator("#w-related input.lookup")
    with page.expect_response(lambda r: "/app/contact/options" in r.url):
        lookup.fill("Li")
    expect(picker.locator("option", has_text="Lindqvist")).to_have_count(1)
    expect(picker.locator("option", has_text="Wang")).to_have_count(0)
    picker.select_option(str(ids["Li"]))
    with page.expect_response(lambda r: "/app/contact/options" in r.url):
        lookup.fill("Wang")
    expect(picker.locator("option", has_text="Wang")).to_have_count(1)
    li = picker.locator(f"option[value='{ids['Li']}']")
    expect(li).to_have_count(1)  # picked before: still there, still picked
    assert li.evaluate("o => o.selected")
    picker.select_option([str(ids["Li"]), str(ids["Wang"])])
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/gadget/\d+$"))
    gadget_id = int(page.url.rsplit("/", 1)[1])
    gadget = env.api.get(f"/api/v1/records/gadget/{gadget_id}").json
    assert gadget["related"] == sorted([ids["Li"], ids["Wang"]])
    assert page.inner_text("[data-field=related]") == "Li, Wang"
    page.click(".actions >> text=Edit")
    selected = picker.evaluate("s => [...s.selectedOptions].map(o => o.textContent.trim())")
    assert selected == ["Li", "Wang"]  # the form shows them by name
    assert page.console_errors == []
