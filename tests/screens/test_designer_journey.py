"""The designer's whole journey in Chromium, as the issue tells it: a business admin
adds a pick list with three options to opportunities, puts it in the form's first
section, adds a "Legal review" stage with an entry rule, and adds an approval step for
quote discounts over 30%; then a sales rep meets each: the field on the form, the rule
refusing a stage move, the new step in a submitted quote's approval. The admin's page
interactions and wall time are written to output/designer-journey.json."""

import json
import re
import time

from playwright.sync_api import expect

from tests.conftest import user
from tests.screens.conftest import SHOTS, shot, sign_in
from tests.screens.test_designer import session


class Counted:
    """The page, counting what a person would do: clicks, typing into a box, choosing."""

    def __init__(self, page):
        self.page, self.count, self.typed = page, 0, 0

    def click(self, selector: str) -> None:
        self.count += 1
        self.page.click(selector)

    def fill(self, selector: str, text: str) -> None:
        self.count += 1
        self.typed += len(text)
        self.page.fill(selector, text)

    def choose(self, selector: str, value: str) -> None:
        self.count += 1
        self.page.select_option(selector, value)


def test_a_business_admin_changes_the_crm_and_a_rep_meets_each_change(browser, site):
    env, base = site
    director, _api = user(env, "dora", ["sales_director"])
    user(env, "max", ["sales_manager"])
    user(env, "rita", ["sales_rep"])
    admin = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = admin.new_page()
    sign_in(page, base)
    me = Counted(page)
    started = time.monotonic()

    # 1. a pick list with three options
    me.click("nav >> text=Setup")
    me.click("[data-entity=opportunity] a")
    me.click("text=New field")
    me.fill("#f-label", "Deal type")
    expect(page.locator("#f-name")).to_have_value("deal_type")  # followed the label
    me.choose("#f-type", "select")
    me.fill("#f-options", "New business\nRenewal\nUpsell")
    me.click("button.primary:has-text('Add field')")
    expect(page.locator(".flash")).to_contain_text("Deal type")

    # 2. into the form's first section
    me.click("a:has-text('Form layout')")
    me.choose("#p-deal_type", "0")
    me.click("form.layout-editor button.primary")
    expect(page.locator(".flash")).to_contain_text("saved")

    # 3. a stage with an entry rule
    me.click(".crumb a:has-text('Opportunities')")
    me.click("a:has-text('Pipeline:')")
    me.fill("#f-new_label", "Legal review")
    me.fill("#f-new_probability", "85")
    me.choose("#f-new_before", "closed_won")
    me.fill("#f-new_rule", "amount >= 1000")
    expect(page.locator("#f-new_rule-check [data-check=ok]")).to_be_visible()
    me.fill("#f-new_rule_message", "Legal reviews deals of 1000 or more")
    me.click("form.pipeline-editor button.primary")
    expect(page.locator(".flash")).to_contain_text("saved")

    # 4. an approval step for discounts over 30%
    me.click(".crumb a:has-text('Setup')")
    me.click("[data-approval=quote_discount] a")
    me.fill("#f-step_label-_new", "Big discount")
    me.fill("#f-condition-_new", "discount > 30")
    me.choose("#f-approver-_new-1", "role:sales_director")
    me.click("form.approval-editor button.primary")
    expect(page.locator(".flash")).to_contain_text("saved")
    elapsed = time.monotonic() - started
    shot(page, "designer-journey-approval")
    SHOTS.mkdir(exist_ok=True)
    # a person: ~3 s to find and make each click, choice or start of typing, then
    # ~0.3 s a character (40 words a minute)
    estimate = me.count * 3 + me.typed * 0.3
    (SHOTS / "designer-journey.json").write_text(
        json.dumps(
            {
                "interactions": me.count,
                "characters_typed": me.typed,
                "person_seconds_estimated": round(estimate),
                "seconds_automated": round(elapsed, 1),
            }
        )
    )
    admin.close()

    # the rep: the field on the form, first section
    rep = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = rep.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "rita", "rita-password")
    page.goto(base + "/app/account/new")
    page.fill("input[name=name]", "Acme")
    page.click("form.record-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    account = page.url.rsplit("/", 1)[1]
    page.goto(base + "/app/opportunity/new")
    first = page.locator("form.record-form fieldset").first
    expect(first.locator("select[name=deal_type] option")).to_have_count(4)
    page.fill("input[name=name]", "Small deal")
    page.evaluate(
        "([id]) => { const s = document.querySelector('select[name=account]');"
        " s.add(new Option('Acme', id, true, true)); }",
        [account],
    )
    page.select_option("select[name=deal_type]", "Renewal")
    page.fill("input[name=amount]", "500")
    page.fill("input[name=close_date]", "2027-03-01")
    page.click("form.record-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    assert page.inner_text("[data-field=deal_type]") == "Renewal"
    # the new stage refuses this deal
    page.click(".stage-path button:has-text('Legal review')")
    expect(page.locator(".stage-path .error-summary")).to_contain_text(
        "Legal reviews deals of 1000 or more"
    )
    [deal] = env.api.get("/api/v1/records/opportunity").json["data"]
    assert deal["stage"] != "legal_review"

    # a 35% quote goes to the new step after the manager's
    page.goto(base + "/app/quote/new")
    page.fill("input[name=name]", "Q35")
    page.evaluate(
        "([id]) => { const s = document.querySelector('select[name=account]');"
        " s.add(new Option('Acme', id, true, true)); }",
        [account],
    )
    page.fill("input[name=list_amount]", "1000")
    page.fill("input[name=discount]", "35")
    page.click("form.record-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/quote/\d+$"))
    page.click(".approval-submit button[type=submit]")
    expect(page.locator("[data-approval-panel]")).to_have_attribute("data-status", "pending")
    [approval] = env.api.get("/api/v1/approvals").json["data"]
    manager = session(env, "max", "max-password")
    decided = manager.post(
        f"/api/v1/approvals/{approval['id']}/approve",
        json={},
        headers={"X-CSRFToken": manager.get("/login").json["csrf_token"]},
    )
    assert decided.status_code in (200, 204)
    tasks = env.api.get(f"/api/v1/approvals/{approval['id']}").json["tasks"]
    waiting = [(t["step_name"], t["user_id"]) for t in tasks if t["status"] == "pending"]
    assert waiting == [("big_discount", director)]  # over 30%, not over 40%
    assert errors == []
    rep.close()
