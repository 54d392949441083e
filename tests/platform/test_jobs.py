"""Jobs in the embedded default (inline, no Redis), on SQLite and PostgreSQL: the outbox,
retries with backoff, the dead-letter list, idempotency, the loop guard, the execution log."""

import datetime as dt

import pytest
from sqlalchemy import select, update

from metacrm.platform.access import auth
from metacrm.platform.app import create_app
from metacrm.platform.db.outbox import MAX_DEPTH
from metacrm.platform.worker import sweep_all
from tests.conftest import Api, drop_schemas, make_settings

PLUGIN = "tests.platform.job_plugin"


@pytest.fixture
def jobs_env(tmp_path, backend):
    settings = make_settings(tmp_path, backend).with_overrides(
        plugins=(PLUGIN,), job_retry_seconds=5.0, job_max_attempts=3
    )
    app = create_app(settings)
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    admin = auth.create_user(state, "admin", "admin-password", is_admin=True)
    yield runtime, Api(app.test_client(), auth.create_token(state, admin))
    runtime.close()
    drop_schemas(settings)


def outbox(runtime, **where):
    state = runtime.tenant()
    table = state.system["outbox"]
    query = select(table).order_by(table.c.id)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with state.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def fast_forward(runtime, event_id):
    """As if the retry delay had passed."""
    state = runtime.tenant()
    table = state.system["outbox"]
    with state.write.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.event_id == event_id)
            .values(next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )


def test_inline_events_run_after_commit_and_are_logged(jobs_env):
    runtime, api = jobs_env
    created = api.post("/api/v1/records/account", json={"name": "Acme"})
    assert created.status_code == 201
    account = api.get(f"/api/v1/records/account/{created.json['id']}").json
    assert account["description"] == "stamped;"
    events = outbox(runtime, record_id=account["id"])
    assert [(e["topic"], e["status"], e["attempts"]) for e in events] == [
        ("record.created", "done", 1),
        ("record.updated", "done", 1),  # the handler's own write is an event too
    ]
    assert events[1]["depth"] == 1 and events[1]["payload"]["changes"] == {
        "description": [None, "stamped;"]
    }
    log = api.get(f"/api/v1/records/account/{account['id']}/executions").json["data"]
    assert [(x["topic"], x["handler"], x["status"]) for x in log] == [
        ("record.updated", "stamp", "ok"),
        ("record.created", "stamp", "ok"),
    ]
    assert log[1]["detail"] == "description is now 'stamped;'"
    # contacts have no listener: no events written at all
    api.post("/api/v1/records/contact", json={"last_name": "Quiet"})
    assert not outbox(runtime, entity="contact")


def test_running_an_event_again_has_no_second_effect(jobs_env):
    runtime, api = jobs_env
    rid = api.post("/api/v1/records/account", json={"name": "Once"}).json["id"]
    event = outbox(runtime, record_id=rid, topic="record.created")[0]
    assert runtime.jobs.run(runtime.tenant(), event["event_id"]) == "done"
    assert api.get(f"/api/v1/records/account/{rid}").json["description"] == "stamped;"
    assert outbox(runtime, event_id=event["event_id"])[0]["attempts"] == 1


def test_failures_retry_with_backoff_then_go_to_the_dead_letter_list(jobs_env):
    runtime, api = jobs_env
    created = api.post("/api/v1/records/account", json={"name": "fail me"})
    assert created.status_code == 201  # a failing handler never undoes the change itself
    rid = created.json["id"]
    [event] = outbox(runtime, record_id=rid)
    assert event["status"] == "pending" and event["attempts"] == 1
    assert "told to fail" in event["last_error"]
    first_delay = (event["next_attempt_at"] - event["claimed_at"]).total_seconds()
    assert 4.9 < first_delay < 5.5
    assert sweep_all(runtime) == 0  # not due yet
    fast_forward(runtime, event["event_id"])
    assert sweep_all(runtime) == 1
    [event] = outbox(runtime, record_id=rid)
    assert event["attempts"] == 2 and event["status"] == "pending"
    second_delay = (event["next_attempt_at"] - event["claimed_at"]).total_seconds()
    assert 9.9 < second_delay < 10.5  # exponential backoff
    fast_forward(runtime, event["event_id"])
    assert sweep_all(runtime) == 1
    [event] = outbox(runtime, record_id=rid)
    assert event["status"] == "dead" and event["attempts"] == 3
    dead = api.get("/api/v1/admin/jobs", query_string={"status": "dead"}).json["data"]
    assert [d["event_id"] for d in dead] == [event["event_id"]]
    assert "told to fail" in dead[0]["last_error"]
    log = api.get(f"/api/v1/records/account/{rid}/executions").json["data"]
    assert [(x["status"], x["attempt"]) for x in log] == [("error", 3), ("error", 2), ("error", 1)]
    assert api.get(f"/api/v1/records/account/{rid}").json["description"] is None
    # an admin fixes the cause and retries the dead event
    api.patch(f"/api/v1/records/account/{rid}", json={"name": "fixed"})
    retried = api.post(f"/api/v1/admin/jobs/{event['event_id']}/retry")
    assert retried.status_code == 200 and retried.json["status"] == "done"
    assert api.get(f"/api/v1/records/account/{rid}").json["description"] == "stamped;"
    again = api.post(f"/api/v1/admin/jobs/{event['event_id']}/retry")
    assert again.status_code == 409


def test_jobs_admin_api_is_for_admins_and_validates(jobs_env):
    runtime, api = jobs_env
    state = runtime.tenant()
    rep = auth.create_user(state, "rep", "rep-password")
    rep_api = Api(api.client, auth.create_token(state, rep))
    assert rep_api.get("/api/v1/admin/jobs").status_code == 403
    assert api.get("/api/v1/admin/jobs", query_string={"status": "nope"}).status_code == 400
    assert api.post("/api/v1/admin/jobs/not-an-event/retry").status_code == 404
    rid = api.post("/api/v1/records/account", json={"name": "Private"}).json["id"]
    assert rep_api.get(f"/api/v1/records/account/{rid}/executions").status_code == 404


def test_the_loop_guard_stops_events_that_cause_events(jobs_env):
    runtime, api = jobs_env
    rid = api.post("/api/v1/records/account", json={"name": "loop"}).json["id"]
    description = api.get(f"/api/v1/records/account/{rid}").json["description"]
    assert description == "stamped;" * (MAX_DEPTH + 1)
    events = outbox(runtime, record_id=rid)
    assert [e["depth"] for e in events] == list(range(MAX_DEPTH + 2))
    assert all(e["status"] == "done" for e in events)
    log = api.get(f"/api/v1/records/account/{rid}/executions").json["data"]
    assert log[0]["status"] == "loop_guard" and f"limit {MAX_DEPTH}" in log[0]["detail"]


def test_one_process_sweeps_at_a_time_and_another_takes_over(jobs_env, tmp_path):
    """`metacrm serve` runs the sweep in a thread of every worker; the flock elects one."""
    import fcntl
    import threading

    from metacrm.platform.worker import schedule_as_leader

    runtime, _ = jobs_env
    lock = tmp_path / "scheduler.lock"

    def held() -> bool:
        with open(lock, "a") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(probe, fcntl.LOCK_UN)
            return False

    def start(stop):
        thread = threading.Thread(target=schedule_as_leader, args=(runtime, lock, stop, 0.05))
        thread.start()
        return thread

    def wait_for(condition) -> None:
        import time

        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    first_stop, second_stop = threading.Event(), threading.Event()
    first = start(first_stop)
    wait_for(held)
    second = start(second_stop)  # waits: the first holds the lock
    first_stop.set()
    first.join(10)
    assert not first.is_alive()
    wait_for(held)  # the second took over
    assert second.is_alive()
    second_stop.set()
    second.join(10)
    assert not held()


def test_time_based_work_runs_at_most_once_a_minute_per_tenant(jobs_env):
    """The platform throttles `metacrm_scheduled` for every plugin (the sweep runs each
    second); the engines' scans no longer throttle themselves."""
    from metacrm.plugins.hookspecs import hookimpl

    runtime, _ = jobs_env
    calls = []

    class Clock:
        @hookimpl
        def metacrm_scheduled(self, runtime, state, now):
            calls.append((state.name, now))

    runtime.pm.register(Clock())
    sweep_all(runtime)
    sweep_all(runtime)
    assert [name for name, _ in calls] == ["default"]
    now = calls[0][1]
    jobs = runtime.jobs
    assert not jobs.scheduled_due("default", now + dt.timedelta(seconds=59))
    assert jobs.scheduled_due("other", now + dt.timedelta(seconds=1))  # each tenant its own
    assert jobs.scheduled_due("default", now + dt.timedelta(seconds=60))
    assert not jobs.scheduled_due("default", now + dt.timedelta(seconds=61))
    assert jobs.scheduled_due("default", now - dt.timedelta(hours=1))  # the clock went back
