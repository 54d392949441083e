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

from sqlalchemy import insert, select, update

from metacrm.platform.jobs import MAX_DEPTH, EventHandler, HandlerRun, event_ids_in, now

log = logging.getLogger("metacrm.jobs")


class EventRunner:
    """One batch of events of one tenant, run by `Jobs.run_many`."""

    def __init__(self, jobs, state):
        self.jobs, self.state = jobs, state
        self.runtime, self.settings, self.handlers = jobs.runtime, jobs.settings, jobs.handlers

    def run_many(self, event_ids: list[str]) -> dict[str, int]:
        """Run events; how many ended in each status.

        One claim transaction for the batch, then one transaction for the effects of
        all of them with a savepoint per event: a failing event rolls back alone and
        is retried alone, the others commit with their done marks.
        """
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
        long = [e for e in claimed if self._own_handlers(e)]
        for event in long:
            count(self._run_long(event))
        batch = [e for e in claimed if not self._own_handlers(e)]
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
        follow_ups = list(follow_ups or [])
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
            outcome = self._run_together(conn, grouped)
            if outcome is None:
                grouped, outcome = [], ([], [], [], [])
            together = {e["event_id"] for e in grouped}
            rest = [e for e in pending if e["event_id"] not in together]
            each = self._run_each(conn, rest, entries or [])
            follow_ups += outcome[0] + each[0]
            logs, done, failures = outcome[1] + each[1], outcome[2] + each[2], each[3]
            if done:
                conn.execute(
                    update(outbox)
                    .where(event_ids_in(outbox, conn, done))
                    .values(status="done", finished_at=now(), last_error=None)
                )
            if logs:
                conn.execute(insert(self.state.system["job_log"]), logs)
        statuses = {"done": len(done) + len(finished)} if done or finished else {}
        for event, exc in failures:
            status = self._failed(event, exc)
            statuses[status] = statuses.get(status, 0) + 1
        self.jobs.dispatch(self.state, follow_ups)
        return statuses

    def _batchable(self, event) -> bool:
        """May this event run together with others? Only if every handler of it has `batch`.

        Running together means rolling back and running again on any error, which
        only handlers that said so (effects in the database only) can take.
        """
        if event["depth"] > MAX_DEPTH:
            return True
        key = ("events_batchable", event["entity"], event["topic"])
        hit = self.state.cache.get(key)
        if hit is None:
            hit = self.state.cache[key] = all(
                h.batch is not None
                for h in self.handlers
                if not h.own_transactions
                and h.wants(self.state.model, event["entity"], event["topic"])
            )
        return hit

    def _run_each(self, conn, events, entries) -> tuple[list, list, list, list]:
        """Run events one by one, a savepoint each: (follow-ups, log rows, done ids, failures)."""
        follow_ups, logs, done, failures = [], [], [], []
        for event in events:
            savepoint = conn.begin_nested()
            mine: list[str] = []
            event_entries = list(entries)
            try:
                self._run_handlers(conn, event, mine, event_entries)
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

    def _run_together(self, conn, events) -> tuple[list, list, list, list] | None:
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
                    self._run_handlers(conn, event, follow_ups, entries[event["event_id"]])
                else:
                    live.append(event)
            for handler in self.handlers:
                if handler.own_transactions:
                    continue
                wanted = [
                    e for e in live if handler.wants(self.state.model, e["entity"], e["topic"])
                ]
                runs = [HandlerRun(self.state, conn, e, self.runtime) for e in wanted]
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

    def _run_handlers(self, conn, event, follow_ups, entries) -> None:
        if event["depth"] > MAX_DEPTH:
            entries.append(
                ("loop_guard", "-", f"not run: {event['depth']} events deep (limit {MAX_DEPTH})")
            )
            return
        for handler in self.handlers:
            if handler.own_transactions or not handler.wants(
                self.state.model, event["entity"], event["topic"]
            ):
                continue
            run = HandlerRun(self.state, conn, event, self.runtime)
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
                [self._log_row(event, "-", "error", text, attempts)],
            )
        return "dead" if dead else "pending"
