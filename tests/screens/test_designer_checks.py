"""The designer's live checks, as an admin meets them while typing: `field = expression`
lines (approval outcomes, set and create actions) checked like an expression, each
problem at its line and column; and the function list in the admin's language."""

import re

from playwright.sync_api import expect

from metacrm.testing import env_with
from tests.screens.conftest import sign_in
from tests.screens.test_designer import csrf, session


def checked(client, entity: str, text: str, target: str = "") -> str:
    """The check's answer for `text` typed in a box named `values.0`."""
    path = f"/setup/entities/{entity}/assignments-check"
    form = {"values.0": text, "create_entity.0": target}
    answer = client.post(
        path,
        query_string={"input": "values.0", "target_input": "create_entity.0"},
        data=form,
        headers={"X-CSRFToken": csrf(client, "/setup")},
    )
    assert answer.status_code == 200
    return " ".join(re.sub(r"<[^>]+>", " ", answer.get_data(as_text=True)).split())


def test_each_line_is_checked_against_the_field_it_sets(site):
    env, _ = site
    admin = session(env)
    assert "Fine" in checked(admin, "quote", "status = 'approved'\n\napproved_at = now()")
    assert checked(admin, "quote", "status = 'approved'\nnosuch = 1").startswith(
        "Line 2, column 1: quote has no field nosuch"
    )
    assert "column 1: code cannot be set by an expression" in checked(
        admin, "opportunity", "code = 'X'"
    )
    assert "Line 1, column 1: write field = expression" in checked(admin, "quote", "status")
    wrong = checked(admin, "opportunity", "amount = name")  # text into a decimal
    assert wrong.startswith("Line 1, column 10:"), wrong
    # a create action: fields of the entity created, values from the triggering record
    assert "Fine" in checked(admin, "opportunity", "subject = name", target="ticket")
    assert "ticket has no field amount" in checked(
        admin, "opportunity", "amount = amount", target="ticket"
    )


def test_an_outcome_box_says_what_is_wrong_as_it_is_typed(page, site):
    env, base = site
    sign_in(page, base)
    page.goto(base + "/setup/approvals/quote_discount")
    box = page.locator("#f-on_approve")
    with page.expect_response(lambda r: "/assignments-check" in r.url):
        box.fill("status = 'approved'\nstatus2 = 1")
    expect(page.locator("#f-on_approve-check [data-check=error]")).to_contain_text(
        "Line 2, column 1: quote has no field status2"
    )
    with page.expect_response(lambda r: "/assignments-check" in r.url):
        box.fill("status = 'approved'")
    expect(page.locator("#f-on_approve-check [data-check=ok]")).to_be_visible()
    assert page.console_errors == []


def test_the_function_list_reads_in_the_admins_language(tmp_path):
    """The expression editor's function list: built-ins in Chinese for a Chinese admin, a
    plugin's function as its author wrote it."""
    with env_with(tmp_path, "sqlite", plugins=("tests.plugins.sample_plugin",)) as env:
        admin = session(env)
        path = "/setup/entities/opportunity/fields/stage"
        en = admin.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
        zh = admin.get(path, headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
        zh = zh.get_data(as_text=True)
    assert "<dd>the number of characters</dd>" in en
    assert "<dd>字符数</dd>" in zh and "the number of characters" not in zh
    assert "<dd>20% VAT of an amount</dd>" in zh  # not in the catalog: as written
