"""Background work from a transactional outbox.

A record write that someone listens to adds an `_outbox` row in its own
transaction, so an event exists exactly when its change committed. After the
commit, `Jobs.dispatch` hands the new events on: inline (run now, in this
process: the embedded default) or to rq on Redis (`metacrm worker` runs them).
If Redis is down the events stay `pending`; `Jobs.sweep` (the scheduler, every
second) hands on whatever is due: new events, retries, and events whose claim
lapsed because a worker died.

Running events (`run_many`) takes two transactions: the first claims them
(attempts + 1, committed, so a job that kills its worker is not retried for
ever), the second locks the rows, runs the handlers on the same connection and
marks them done. Effects and the done mark commit together, so an event run twice
(a redelivery, a worker killed after its commit) has its effects once. A batch
of events first runs together (each handler over all of them, `batch` handlers
in one call); if anything fails, that is rolled back and the events run again one
by one, each in a savepoint, so a failing event rolls back alone. A failure
schedules a retry with exponential backoff; after `job_max_attempts` the event is
`dead` (the dead-letter list admins see).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select, update

from metacrm.platform.database import in_list

log = logging.getLogger("metacrm.jobs")

MAX_DEPTH = 5  # events caused by events caused by ... (automations' loop guard)
SWEEP_BATCH = 500
BATCH = 500  # events run in one transaction (a savepoint each)


@dataclass(frozen=True)
class EventHandler:
    """What plugins (the workflow engine among them) return from `metacrm_event_handlers`.

    `fn(run)` gets a HandlerRun; `wants(model, entity_name, topic)` says whether it
    would act on such an event, so the platform writes events only when someone listens.
    `batch(runs)`, if given, runs many events at once (a HandlerRun each, in outbox
    order) with the same effects as `fn` on each in turn; it is what makes a worker
    fast on a stream of similar events (one UPDATE for many records).
    """

    name: str
    fn: Callable[[HandlerRun], Any]
    wants: Callable[[Any, str | None, str], bool]
    # Long work (an import) runs outside the event's transaction, in transactions of its
    # own (run.conn is None); it must then be idempotent by its own records.
    own_transactions: bool = False
    batch: Callable[[list[HandlerRun]], Any] | None = None


@dataclass
class HandlerRun:
    """One handler running one event, inside the event's transaction."""

    state: Any
    conn: Any
    event: dict
    runtime: Any
    notes: list[str] = field(default_factory=list)
    services: list = field(default_factory=list)

    @property
    def follow_ups(self) -> list[str]:
        """Events this handler's writes produced: dispatched once the event's work committed."""
        return [e for s in self.services for e in s.pending_events]

    def service(self, user_id: int | None = None):
        """A record service acting as the system (attributed to `user_id`), one event deeper."""
        from metacrm.platform.context import Context
        from metacrm.platform.records import RecordService

        ctx = Context(
            tenant=self.state.name,
            user_id=user_id,
            username="system",
            is_admin=True,
            depth=self.event["depth"] + 1,
        )
        service = RecordService(self.state, ctx, self.runtime.pm, self.runtime.registry)
        self.services.append(service)
        return service

    def note(self, text: str) -> None:
        self.notes.append(text)


def _ids_in(outbox, conn, ids):
    """`event_id IN ids`, one array parameter on PostgreSQL (see database.in_list)."""
    return in_list(outbox.c.event_id, None, conn.dialect.name, list(ids))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_event(
    topic: str,
    payload: dict,
    *,
    entity: str | None = None,
    record_id: int | None = None,
    depth: int = 0,
    at: dt.datetime | None = None,
) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "topic": topic,
        "entity": entity,
        "record_id": record_id,
        "payload": payload,
        "depth": depth,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": at or now(),
    }


def write_events(conn, state, events: list[dict]) -> list[str]:
    """Add events to the outbox inside the caller's transaction; their ids, to dispatch after it."""
    if not events:
        return []
    conn.execute(insert(state.system["outbox"]), events)
    return [e["event_id"] for e in events]


class Jobs:
    """Owned by the Runtime: the handlers, the dispatch mode, the sweep."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self._handlers: list[EventHandler] | None = None
        self._queue = None
        self.inline = not self.settings.redis_url

    # -- who listens ---------------------------------------------------------------
    @property
    def handlers(self) -> list[EventHandler]:
        if self._handlers is None:
            from metacrm.platform.import_jobs import IMPORT_HANDLER

            found = [
                h for result in self.runtime.pm.hook.metacrm_event_handlers() for h in result or ()
            ]
            self._handlers = [IMPORT_HANDLER, *found]
        return self._handlers

    def wanted(self, state, entity: str | None, topic: str) -> bool:
        """Does any handler act on `topic` for `entity`? (cached per compiled model)."""
        key = ("events_wanted", entity, topic)
        hit = state.cache.get(key)
        if hit is None:
            hit = state.cache[key] = any(h.wants(state.model, entity, topic) for h in self.handlers)
        return hit

    # -- handing events on ---------------------------------------------------------
    def queue(self):
        if self._queue is None:
            from redis import Redis
            from rq import Queue

            redis = Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=1, socket_timeout=5
            )
            self._queue = Queue(self.settings.job_queue, connection=redis)
        return self._queue

    def dispatch(self, state, event_ids: Iterable[str]) -> int:
        """Hand committed events on; how many went. Never raises: the sweep retries the rest."""
        ids = list(event_ids)
        if not ids:
            return 0
        if self.inline:
            for start in range(0, len(ids), BATCH):
                try:
                    self.run_many(state, ids[start : start + BATCH])
                except Exception:  # the sweep runs them again once their claim lapses
                    log.exception("running %d events of %s failed", len(ids), state.name)
            return len(ids)
        try:
            for start in range(0, len(ids), BATCH):
                self.queue().enqueue(
                    "metacrm.platform.worker.run_events",
                    state.name,
                    ids[start : start + BATCH],
                    job_timeout=max(60, int(self.settings.job_lease_seconds)),
                    result_ttl=0,
                    failure_ttl=3600,
                )
        except Exception as exc:  # Redis down: the events wait in the outbox
            log.warning("cannot enqueue %d events of %s: %s", len(ids), state.name, exc)
            return 0
        outbox = state.system["outbox"]
        with state.write.begin() as conn:
            conn.execute(
                update(outbox)
                .where(_ids_in(outbox, conn, ids), outbox.c.status == "pending")
                .values(status="dispatched", claimed_at=now())
            )
        return len(ids)

    def sweep(self, state) -> int:
        """Hand on due events (never dispatched, retries that are due, lapsed claims); how many."""
        outbox = state.system["outbox"]
        t = now()
        lapsed = (
            outbox.c.status.in_(("dispatched", "running")),
            outbox.c.claimed_at < t - dt.timedelta(seconds=self.settings.job_lease_seconds),
        )
        with state.engine.connect() as conn:  # read first: an idle sweep takes no write lock
            stale = conn.execute(select(outbox.c.id).where(*lapsed).limit(1)).first()
        if stale is not None:
            with state.write.begin() as conn:  # a claim nobody finished in time: worker died
                conn.execute(
                    update(outbox).where(*lapsed).values(status="pending", next_attempt_at=None)
                )
        with state.engine.connect() as conn:
            due = (
                conn.execute(
                    select(outbox.c.event_id)
                    .where(
                        outbox.c.status == "pending",
                        or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= t),
                    )
                    .order_by(outbox.c.id)
                    .limit(SWEEP_BATCH)
                )
                .scalars()
                .all()
            )
        return self.dispatch(state, due)

    # -- running one event ------------------------------------------------------
    def run(self, state, event_id: str) -> str:
        """Run one event's handlers; returns its status afterwards."""
        statuses = self.run_many(state, [event_id])
        return next(iter(statuses), "missing")

    def run_many(self, state, event_ids: list[str]) -> dict[str, int]:
        """Run events; how many ended in each status.

        One claim transaction for the batch, then one transaction for the effects of
        all of them with a savepoint per event: a failing event rolls back alone and
        is retried alone, the others commit with their done marks.
        """
        outbox, settings = state.system["outbox"], self.settings
        statuses: dict[str, int] = {}

        def count(status: str, n: int = 1) -> None:
            statuses[status] = statuses.get(status, 0) + n

        with state.write.begin() as conn:  # 1: claim (committed even if we die below)
            rows = conn.execute(  # in outbox order: a record's events run in the order written
                select(outbox).where(_ids_in(outbox, conn, event_ids)).order_by(outbox.c.id)
            ).all()
            claimed, dead = [], []
            for row in rows:
                if row.status in ("done", "dead"):
                    count(row.status)
                elif row.attempts + 1 > settings.job_max_attempts:
                    dead.append(row.event_id)
                else:
                    claimed.append({**row._mapping, "attempts": row.attempts + 1})
            if len(rows) < len(event_ids):
                count("missing", len(event_ids) - len(rows))
            if dead:
                conn.execute(
                    update(outbox)
                    .where(_ids_in(outbox, conn, dead))
                    .values(status="dead", finished_at=now())
                )
                count("dead", len(dead))
            if claimed:
                conn.execute(
                    update(outbox)
                    .where(_ids_in(outbox, conn, [e["event_id"] for e in claimed]))
                    .values(status="running", attempts=outbox.c.attempts + 1, claimed_at=now())
                )
        long = [e for e in claimed if self._own_handlers(state, e)]
        for event in long:
            count(self._run_long(state, event))
        batch = [e for e in claimed if not self._own_handlers(state, e)]
        if batch:
            for status, n in self._run_batch(state, batch).items():
                count(status, n)
        return statuses

    def _own_handlers(self, state, event) -> list[EventHandler]:
        if event["depth"] > MAX_DEPTH:
            return []
        return [
            h
            for h in self.handlers
            if h.own_transactions and h.wants(state.model, event["entity"], event["topic"])
        ]

    def _run_long(self, state, event) -> str:
        """An event with a long handler (its own transactions), then the rest as usual."""
        follow_ups: list[str] = []
        entries: list[tuple] = []
        try:
            for handler in self._own_handlers(state, event):
                run = HandlerRun(state, None, event, self.runtime)
                handler.fn(run)
                follow_ups += run.follow_ups
                entries.append(("ok", handler.name, "; ".join(run.notes) or None))
        except Exception as exc:
            return self._failed(state, event, exc)
        statuses = self._run_batch(state, [event], entries, follow_ups)
        return next(iter(statuses), "done")

    def _run_batch(self, state, events, entries=None, follow_ups=None) -> dict[str, int]:
        outbox = state.system["outbox"]
        follow_ups = list(follow_ups or [])
        with state.write.begin() as conn:  # 2: effects and the done marks, together
            # lock every row of the batch: a concurrent run of one of them (a redelivery)
            # waits for this commit, then finds it done
            locked = select(outbox.c.event_id, outbox.c.status).where(
                _ids_in(outbox, conn, [e["event_id"] for e in events])
            )
            if conn.dialect.name == "postgresql":
                locked = locked.with_for_update()
            finished = {i for i, status in conn.execute(locked) if status in ("done", "dead")}
            pending = [e for e in events if e["event_id"] not in finished]
            grouped = [e for e in pending if entries is None and self._batchable(state, e)]
            outcome = self._run_together(state, conn, grouped)
            if outcome is None:
                grouped, outcome = [], ([], [], [], [])
            together = {e["event_id"] for e in grouped}
            rest = [e for e in pending if e["event_id"] not in together]
            each = self._run_each(state, conn, rest, entries or [])
            follow_ups += outcome[0] + each[0]
            logs, done, failures = outcome[1] + each[1], outcome[2] + each[2], each[3]
            if done:
                conn.execute(
                    update(outbox)
                    .where(_ids_in(outbox, conn, done))
                    .values(status="done", finished_at=now(), last_error=None)
                )
            if logs:
                conn.execute(insert(state.system["job_log"]), logs)
        statuses = {"done": len(done) + len(finished)} if done or finished else {}
        for event, exc in failures:
            status = self._failed(state, event, exc)
            statuses[status] = statuses.get(status, 0) + 1
        self.dispatch(state, follow_ups)
        return statuses

    def _batchable(self, state, event) -> bool:
        """May this event run together with others? Only if every handler of it has `batch`.

        Running together means rolling back and running again on any error, which
        only handlers that said so (effects in the database only) can take.
        """
        if event["depth"] > MAX_DEPTH:
            return True
        key = ("events_batchable", event["entity"], event["topic"])
        hit = state.cache.get(key)
        if hit is None:
            hit = state.cache[key] = all(
                h.batch is not None
                for h in self.handlers
                if not h.own_transactions and h.wants(state.model, event["entity"], event["topic"])
            )
        return hit

    def _run_each(self, state, conn, events, entries) -> tuple[list, list, list, list]:
        """Run events one by one, a savepoint each: (follow-ups, log rows, done ids, failures)."""
        follow_ups, logs, done, failures = [], [], [], []
        for event in events:
            savepoint = conn.begin_nested()
            mine: list[str] = []
            event_entries = list(entries)
            try:
                self._run_handlers(state, conn, event, mine, event_entries)
            except Exception as exc:
                savepoint.rollback()
                failures.append((event, exc))
                continue
            savepoint.commit()
            follow_ups += mine
            done.append(event["event_id"])
            logs += [
                self._log_row(event, handler, status, detail, event["attempts"])
                for status, handler, detail in event_entries
            ]
        return follow_ups, logs, done, failures

    def _run_together(self, state, conn, events) -> tuple[list, list, list, list] | None:
        """Run many events in one savepoint, handler by handler; None if that failed.

        Same result shape as `_run_each`. On any error the savepoint is rolled back
        and the caller runs the events one by one to find the bad one.
        """
        if len(events) < 2:
            return None
        savepoint = conn.begin_nested()
        follow_ups: list[str] = []
        entries: dict[str, list[tuple]] = {e["event_id"]: [] for e in events}
        try:
            live = []
            for event in events:
                if event["depth"] > MAX_DEPTH:
                    self._run_handlers(state, conn, event, follow_ups, entries[event["event_id"]])
                else:
                    live.append(event)
            for handler in self.handlers:
                if handler.own_transactions:
                    continue
                wanted = [e for e in live if handler.wants(state.model, e["entity"], e["topic"])]
                runs = [HandlerRun(state, conn, e, self.runtime) for e in wanted]
                if handler.batch is not None and len(runs) > 1:
                    handler.batch(runs)
                else:
                    for run in runs:
                        handler.fn(run)
                for run in runs:
                    follow_ups += run.follow_ups
                    entries[run.event["event_id"]].append(
                        ("ok", handler.name, "; ".join(run.notes) or None)
                    )
        except Exception as exc:
            savepoint.rollback()
            log.info("%d events together failed (%s); running them one by one", len(events), exc)
            return None
        savepoint.commit()
        logs = [
            self._log_row(e, handler, status, detail, e["attempts"])
            for e in events
            for status, handler, detail in entries[e["event_id"]]
        ]
        return follow_ups, logs, [e["event_id"] for e in events], []

    def _run_handlers(self, state, conn, event, follow_ups, entries) -> None:
        if event["depth"] > MAX_DEPTH:
            entries.append(
                ("loop_guard", "-", f"not run: {event['depth']} events deep (limit {MAX_DEPTH})")
            )
            return
        for handler in self.handlers:
            if handler.own_transactions or not handler.wants(
                state.model, event["entity"], event["topic"]
            ):
                continue
            run = HandlerRun(state, conn, event, self.runtime)
            handler.fn(run)
            follow_ups += run.follow_ups
            entries.append(("ok", handler.name, "; ".join(run.notes) or None))

    @staticmethod
    def _log_row(event, handler: str, status: str, detail, attempt: int) -> dict:
        return {
            "event_id": event["event_id"],
            "topic": event["topic"],
            "entity": event["entity"],
            "record_id": event["record_id"],
            "handler": handler,
            "status": status,
            "detail": detail,
            "attempt": attempt,
            "at": now(),
        }

    def _failed(self, state, event: dict, exc: Exception) -> str:
        """Record a failed attempt: retry later with backoff, or the dead-letter list."""
        attempts = event["attempts"]
        dead = attempts >= self.settings.job_max_attempts
        delay = self.settings.job_retry_seconds * 2 ** (attempts - 1)
        text = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        log.warning("event %s failed (attempt %d): %s", event["event_id"], attempts, text)
        outbox = state.system["outbox"]
        with state.write.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.event_id == event["event_id"])
                .values(
                    status="dead" if dead else "pending",
                    next_attempt_at=None if dead else now() + dt.timedelta(seconds=delay),
                    finished_at=now() if dead else None,
                    last_error=text,
                )
            )
            conn.execute(
                insert(state.system["job_log"]),
                [self._log_row(event, "-", "error", text, attempts)],
            )
        return "dead" if dead else "pending"
