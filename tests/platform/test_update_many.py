"""RecordService.update_many: one batch through every check, all or nothing."""

import pytest

from metacrm.platform.access.context import Context
from metacrm.platform.errors import Conflict, RecordInvalid
from metacrm.platform.records.service import MAX_BULK, RecordService


@pytest.fixture
def service(env):
    return RecordService(env.state(), Context.system("default", 1), env.runtime.pm)


@pytest.fixture
def deals(env, service):
    account = service.create("account", {"name": "Acme"})["id"]
    li = service.create("contact", {"last_name": "Li"})["id"]
    body = {"account": account, "primary_contact": li}
    return [service.create("opportunity", {"name": f"D{i}", **body})["id"] for i in range(4)]


def test_updates_many_records_with_different_fields_and_logs_each(env, service, deals):
    items = [
        (deals[0], {"stage": "proposal", "amount": "5", "close_date": "2026-12-01"}),
        (deals[1], {"amount": "10.5"}),
        (deals[2], {"next_step": "call", "version": 1}),
    ]
    records = service.update_many("opportunity", items)
    assert [r["id"] for r in records] == deals[:3]
    assert records[0]["stage"] == "proposal"
    assert records[1]["amount"] == "10.50" and records[2]["next_step"] == "call"
    assert all(r["version"] == 2 for r in records)
    untouched = service.get("opportunity", deals[3])
    assert untouched["version"] == 1 and untouched["stage"] == "prospecting"
    history = env.api.get(f"/api/v1/records/opportunity/{deals[1]}/history").json["data"]
    assert [(h["field"], h["new"]) for h in history if h["operation"] == "update"] == [
        ("amount", "10.50")
    ]


def test_a_bad_item_refuses_the_whole_batch_and_names_its_index(service, deals):
    items = [
        (deals[0], {"next_step": "call"}),
        (deals[1], {"stage": "nope"}),
        (deals[2], {"stage": "proposal", "amount": "0", "close_date": "2026-12-01"}),
    ]
    with pytest.raises(RecordInvalid) as caught:
        service.update_many("opportunity", items)
    assert [e["index"] for e in caught.value.errors] == [1]
    items[1] = (deals[1], {"next_step": "email"})
    with pytest.raises(RecordInvalid) as caught:
        service.update_many("opportunity", items)
    assert [(e["index"], e["field"]) for e in caught.value.errors] == [(2, "stage")]
    assert "positive amount" in caught.value.errors[0]["message"]
    assert service.get("opportunity", deals[0])["next_step"] is None


def test_a_stale_version_refuses_the_whole_batch(service, deals):
    service.update("opportunity", deals[1], {"amount": "1"})
    items = [(deals[0], {"amount": "2"}), (deals[1], {"amount": "3", "version": 1})]
    with pytest.raises(Conflict):
        service.update_many("opportunity", items)
    assert service.get("opportunity", deals[0])["version"] == 1


def test_duplicates_and_oversized_batches_are_refused(service, deals):
    with pytest.raises(RecordInvalid, match="twice"):
        service.update_many("opportunity", [(deals[0], {}), (deals[0], {"amount": "1"})])
    with pytest.raises(RecordInvalid, match=f"at most {MAX_BULK}"):
        service.update_many("opportunity", [(i, {}) for i in range(MAX_BULK + 1)])
    assert service.update_many("opportunity", []) == []
