"""Running outbox events: claim, run the handlers, mark done, or schedule a retry.

Two transactions per batch: the first claims the events (attempts + 1, committed,
so a job that kills its worker is not retried for ever), the second locks their
rows, runs the handlers on one connection and marks them done, so effects and
done marks commit together (an event run twice has its effects once). A batch
first runs together, handler by handler (`EventHandler.batch` in one call), when
every handler of its events says it can; on any error that is rolled back and the
events run one by one, a savepoint each, so a failing event fails alone. A
failure is retried with exponential backoff, then goes to the dead-letter list.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update

from metacrm.platform.db.outbox import MAX_DEPTH, event_ids_in, now
from metacrm.platform.jobs.handlers import EventHandler, HandlerRun

log = logging.getLogger("metacrm.jobs")


def log_row(event, handler: str, status: str, detail, attempt: int) -> dict:
    """A row of the execution log (`_job_log`, shown per record by the API)."""
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


@dataclass
class Outcome:
    """What a batch's events did: to commit (done marks, log rows), dispatch, or retry."""

    follow_ups: list[str] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failures: list[tuple] = field(default_factory=list)

    def ran(self, event, follow_ups: list[str], entries: list[tuple]) -> None:
        self.follow_ups += follow_ups
        self.done.append(event["event_id"])
        self.logs += [
            log_row(event, handler, status, detail, event["attempts"])
            for status, handler, detail in entries
        ]


class EventRunner:
    """One batch of events of one tenant, run by `Jobs.run_many`."""

    def __init__(self, jobs, state):
        self.jobs, self.state = jobs, state
        self.runtime, self.settings, self.handlers = jobs.runtime, jobs.settings, jobs.handlers

    def run_many(self, event_ids: list[str]) -> dict[str, int]:
        """Run events; how many ended in each status (see the module doc)."""
        outbox, settings = self.state.system["outbox"], self.settings
        statuses: dict[str, int] = {}

        def count(status: str, n: int = 1) -> None:
            statuses[status] = statuses.get(status, 0) + n

        with self.state.write.begin() as conn:  # 1: claim (committed even if we die below)
            rows = conn.execute(  # in outbox order: a record's events run in the order written
                select(outbox).where(event_ids_in(outbox, conn, event_ids)).order_by(outbox.c.id)
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
                    .where(event_ids_in(outbox, conn, dead))
                    .values(status="dead", finished_at=now())
                )
                count("dead", len(dead))
            if claimed:
                conn.execute(
                    update(outbox)
                    .where(event_ids_in(outbox, conn, [e["event_id"] for e in claimed]))
                    .values(status="running", attempts=outbox.c.attempts + 1, claimed_at=now())
                )
        batch = []
        for event in claimed:
            if self._own_handlers(event):
                count(self._run_long(event))
            else:
                batch.append(event)
        if batch:
            for status, n in self._run_batch(batch).items():
                count(status, n)
        return statuses

    def _own_handlers(self, event) -> list[EventHandler]:
        if event["depth"] > MAX_DEPTH:
            return []
        return [
            h
            for h in self.handlers
            if h.own_transactions and h.wants(self.state.model, event["entity"], event["topic"])
        ]

    def _run_long(self, event) -> str:
        """An event with a long handler (its own transactions), then the rest as usual."""
        follow_ups: list[str] = []
        entries: list[tuple] = []
        try:
            for handler in self._own_handlers(event):
                run = HandlerRun(self.state, None, event, self.runtime)
                handler.fn(run)
                follow_ups += run.follow_ups
                entries.append(("ok", handler.name, "; ".join(run.notes) or None))
        except Exception as exc:
            return self._failed(event, exc)
        statuses = self._run_batch([event], entries, follow_ups)
        return next(iter(statuses), "done")

    def _run_batch(self, events, entries=None, follow_ups=None) -> dict[str, int]:
        outbox = self.state.system["outbox"]
        out = Outcome(follow_ups=list(follow_ups or []))
        with self.state.write.begin() as conn:  # 2: effects and the done marks, together
            # lock every row of the batch: a concurrent run of one of them (a redelivery)
            # waits for this commit, then finds it done
            locked = (  # in id order: two overlapping batches lock alike, never deadlock
                select(outbox.c.event_id, outbox.c.status)
                .where(event_ids_in(outbox, conn, [e["event_id"] for e in events]))
                .order_by(outbox.c.id)
            )
            if conn.dialect.name == "postgresql":
                locked = locked.with_for_update()
            finished = {i for i, status in conn.execute(locked) if status in ("done", "dead")}
            pending = [e for e in events if e["event_id"] not in finished]
            grouped = [e for e in pending if entries is None and self._batchable(e)]
            if not self._run_together(conn, grouped, out):
                grouped = []
            ran = {e["event_id"] for e in grouped}
            rest = [e for e in pending if e["event_id"] not in ran]
            self._run_each(conn, rest, entries or [], out)
            if out.done:
                conn.execute(
                    update(outbox)
                    .where(event_ids_in(outbox, conn, out.done))
                    .values(status="done", finished_at=now(), last_error=None)
                )
            if out.logs:
                conn.execute(insert(self.state.system["job_log"]), out.logs)
        statuses = {"done": len(out.done) + len(finished)} if out.done or finished else {}
        for event, exc in out.failures:
            status = self._failed(event, exc)
            statuses[status] = statuses.get(status, 0) + 1
        self.jobs.dispatch(self.state, out.follow_ups)
        return statuses

    def _handlers_of(self, event) -> list[EventHandler]:
        """The handlers that run in the event's transaction and act on it (cached per model)."""
        key = ("event_handlers", event["entity"], event["topic"])
        found = self.state.cache.get(key)
        if found is None:
            found = self.state.cache[key] = [
                h
                for h in self.handlers
                if not h.own_transactions
                and h.wants(self.state.model, event["entity"], event["topic"])
            ]
        return found

    def _batchable(self, event) -> bool:
        """May this event run together with others? Only if every handler of it has `batch`.

        Running together means rolling back and running again on any error, which
        only handlers that said so (effects in the database only) can take.
        """
        return event["depth"] > MAX_DEPTH or all(h.batch for h in self._handlers_of(event))

    def _run_each(self, conn, events, entries, out: Outcome) -> None:
        """Run events one by one, a savepoint each: a failure rolls back that event alone."""
        for event in events:
            savepoint = conn.begin_nested()
            mine: list[str] = []
            event_entries = list(entries)
            try:
                self._run_handlers(conn, event, mine, event_entries)
            except Exception as exc:
                savepoint.rollback()
                out.failures.append((event, exc))
                continue
            savepoint.commit()
            out.ran(event, mine, event_entries)

    def _run_together(self, conn, events, out: Outcome) -> bool:
        """Run two or more events in one savepoint, handler by handler; False if not done.

        On any error the savepoint is rolled back and the caller runs the events one
        by one to find the bad one.
        """
        if len(events) < 2:
            return False
        savepoint = conn.begin_nested()
        follow_ups: list[str] = []
        entries: dict[str, list[tuple]] = {e["event_id"]: [] for e in events}
        try:
            live = []
            for event in events:
                if event["depth"] > MAX_DEPTH:
                    self._run_handlers(conn, event, follow_ups, entries[event["event_id"]])
                else:
                    live.append(event)
            for handler in self.handlers:
                runs = [
                    HandlerRun(self.state, conn, e, self.runtime)
                    for e in live
                    if handler in self._handlers_of(e)
                ]
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
            return False
        savepoint.commit()
        out.follow_ups += follow_ups
        for event in events:
            out.ran(event, [], entries[event["event_id"]])
        return True

    def _run_handlers(self, conn, event, follow_ups, entries) -> None:
        if event["depth"] > MAX_DEPTH:
            entries.append(
                ("loop_guard", "-", f"not run: {event['depth']} events deep (limit {MAX_DEPTH})")
            )
            return
        for handler in self._handlers_of(event):
            run = HandlerRun(self.state, conn, event, self.runtime)
            handler.fn(run)
            follow_ups += run.follow_ups
            entries.append(("ok", handler.name, "; ".join(run.notes) or None))

    def _failed(self, event: dict, exc: Exception) -> str:
        """Record a failed attempt: retry later with backoff, or the dead-letter list."""
        attempts = event["attempts"]
        dead = attempts >= self.settings.job_max_attempts
        delay = self.settings.job_retry_seconds * 2 ** (attempts - 1)
        text = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        log.warning("event %s failed (attempt %d): %s", event["event_id"], attempts, text)
        outbox = self.state.system["outbox"]
        with self.state.write.begin() as conn:
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
                insert(self.state.system["job_log"]),
                [log_row(event, "-", "error", text, attempts)],
            )
        return "dead" if dead else "pending"
