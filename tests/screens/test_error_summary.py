"""The designer's error summary names each control as the admin reads it on the page
(the stage, step, role or action it belongs to, then its label), never by its form key,
and each link lands on a control that is on the page."""

import re

from metacrm.form_engine.error_links import name_error_links
from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session


def summary(client, path: str, changes: dict, language: str = "en") -> tuple[str, dict]:
    """Post the page's form with `changes`; the page, and its summary's links (id -> text)."""
    form = current_form(client, path)
    form.update(changes)
    form["csrf_token"] = [csrf(client, path)]
    headers = {"Accept": "text/html", "Accept-Language": language}
    refused = client.post(path, data=form, headers=headers)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    links = re.findall(r'<a href="#([^"]+)" data-control>(.*?)</a>', page)
    for control_id, _ in links:
        assert f'id="{control_id}"' in page  # the link lands
    return page, dict(links)


def test_stage_controls_are_named_with_their_stage(site):
    env, _ = site
    admin = session(env)
    _, links = summary(
        admin,
        "/setup/pipelines/sales",
        {"probability.negotiation": ["150"], "idle.proposal": ["soon"], "new_stage": ["Bad"]},
    )  # a new stage's API name without its label: both are named
    assert links == {
        "f-probability-negotiation": "Negotiation · Probability (%)",
        "f-idle-proposal": "Proposal · Alert when idle for (days)",
        "f-new_stage": "API name",
        "f-new_label": "Label",
    }


def test_step_limit_and_action_controls_are_named_with_their_row(site):
    env, _ = site
    admin = session(env)
    _, links = summary(admin, "/setup/approvals/quote_discount", {"timeout.director": ["x"]})
    assert links == {"f-timeout-director": "Sales director · Escalate after (hours)"}
    _, links = summary(
        admin, "/setup/pools/lead_pool", {"max_held.sales_rep": ["-3"], "daily_claims": ["x"]}
    )
    assert links == {
        "f-daily_claims": "Claims a day",
        "f-max_held-sales_rep": "Sales rep: Records held at once",
    }
    _, links = summary(admin, "/setup/automations/won_deal_handover", {"to.1": [""]})
    assert links == {"f-action-1": "Action 2: Notify someone"}
    _, links = summary(admin, "/setup/entities/account/list-view", {"column": []})
    assert links == {"f-column": "Columns"}


def test_in_chinese_the_summary_reads_the_chinese_labels(site):
    env, _ = site
    admin = session(env)
    _, links = summary(admin, "/setup/pools/lead_pool", {"daily_claims": ["x"]}, "zh-CN")
    assert links == {"f-daily_claims": "每日领取上限"}
    path = "/setup/pipelines/sales"
    _, links = summary(admin, path, {"probability.negotiation": ["150"]}, "zh-CN")
    assert links == {"f-probability-negotiation": "商务谈判 · 赢率 (%)"}  # the stage too


def test_a_key_with_no_control_stays_and_names_are_escaped():
    page = (
        '<div class="error-summary"><a href="#f-gone" data-control>gone</a>'
        '<a href="#f-deal.size" data-control>deal.size</a></div>'
        '<label for="f-deal-size">Size <span class="req" aria-hidden="true">*</span>'
        '<span class="visually-hidden">&lt;b&gt; · </span></label><input id="f-deal-size">'
    )
    named = name_error_links(page)
    assert '<a href="#f-gone" data-control>gone</a>' in named  # nothing dropped
    assert '<a href="#f-deal-size" data-control>Size &lt;b&gt; ·</a>' in named  # no star
