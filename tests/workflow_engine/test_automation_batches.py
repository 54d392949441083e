"""Automations over a batch of events (what a worker runs): set-only rules in bulk with
the effects of running them one by one, a record's events in order, a failing event
rolled back and retried alone while the rest of the batch commits."""

from pathlib import Path

import pytest
from sqlalchemy import event, select

from metacrm.platform.access.context import Context
from metacrm.platform.records.service import RecordService
from tests.conftest import _env_fixture

PACK = Path(__file__).parent / "batch_pack"
NO_REDIS = "redis://127.0.0.1:1/0"  # enqueueing fails: events wait in the outbox for run_many


@pytest.fixture
def batch_env(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, (PACK,), redis_url=NO_REDIS)


def setup(env, companies):
    state = env.state()
    service = RecordService(state, Context.system("default", 1), env.runtime.pm)
    bodies = [
        {"last_name": f"L{i}", "company": company, "estimated_budget": budget}
        for i, (company, budget) in enumerate(companies)
    ]
    return state, service, [r["id"] for r in service.create_many("lead", bodies)]


def pending(state) -> list[str]:
    outbox = state.system["outbox"]
    with state.engine.connect() as conn:
        query = select(outbox.c.event_id).where(outbox.c.status == "pending")
        return conn.execute(query.order_by(outbox.c.id)).scalars().all()


def notes(env, lead_id) -> list[str]:
    log = env.api.get(f"/api/v1/records/lead/{lead_id}/executions").json["data"]
    return sorted(x["detail"] for x in log if x["handler"] == "automations")


def count_updates(state, table: str) -> list[int]:
    """A counter of UPDATE statements (an executemany counts once) on `table`."""
    seen = [0]

    @event.listens_for(state.engine, "before_cursor_execute")
    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(f"UPDATE {table.upper()} "):
            seen[0] += 1

    return seen


def test_a_batch_has_the_effects_of_one_by_one_with_one_update(batch_env):
    env = batch_env
    companies = [("Co0", 10), ("Co1", 10), ("Co2", None), ("Co3", 5), ("Co4", 7)]
    state, service, ids = setup(env, companies)
    service.update("lead", ids[1], {"company": "New Co"})  # a second event for lead 1
    events = pending(state)
    assert len(events) == 6
    updates = count_updates(state, "lead")
    assert env.runtime.jobs.run_many(state, events) == {"done": 6}
    leads = service.get_many("lead", ids)
    assert [leads[i]["rating"] for i in ids] == ["hot", "warm", None, "hot", "hot"]
    # lead 1's events ran in order: created (hot), then its company change (warm)
    assert leads[ids[1]]["notes"] == "now at New Co"
    assert notes(env, ids[0]) == ["rate_budgets: set rating"]
    assert notes(env, ids[1]) == ["note_company: set notes, rating", "rate_budgets: set rating"]
    assert notes(env, ids[2]) == ["rate_budgets: condition not met"]
    # leads 0, 3 and 4 in one UPDATE (executemany), lead 1 twice on its own
    assert updates[0] == 3
    # the automations' writes are events one level deeper, waiting like any other
    outbox = state.system["outbox"]
    with state.engine.connect() as conn:
        deeper = conn.execute(select(outbox.c.depth, outbox.c.status).where(outbox.c.depth == 1))
        assert sorted(deeper) == [(1, "pending")] * 5


def test_a_failing_event_rolls_back_alone_and_waits_for_its_retry(batch_env):
    env = batch_env
    companies = [("Co0", 10), ("Bad Co", 10), ("Co2", 10)]
    state, service, ids = setup(env, companies)
    events = pending(state)
    assert env.runtime.jobs.run_many(state, events) == {"done": 2, "pending": 1}
    ratings = [service.get("lead", i)["rating"] for i in ids]
    assert ratings == ["hot", None, "hot"]
    outbox = state.system["outbox"]
    with state.engine.connect() as conn:
        failed = conn.execute(select(outbox).where(outbox.c.record_id == ids[1])).one()
    assert failed.status == "pending" and failed.attempts == 1
    assert "automation rate_budgets, action 1 (set): lead.rating:" in failed.last_error
    assert "'nope' is not one of the options" in failed.last_error
    assert failed.next_attempt_at is not None
    log = env.api.get(f"/api/v1/records/lead/{ids[1]}/executions").json["data"]
    assert [(x["handler"], x["status"]) for x in log] == [("-", "error")]
    assert notes(env, ids[0]) == ["rate_budgets: set rating"]
