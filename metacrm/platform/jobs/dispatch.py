"""Background work from a transactional outbox.

A record write that someone listens to adds an `_outbox` row in its own
transaction, so an event exists exactly when its change committed. After the
commit, `Jobs.dispatch` hands the new events on: inline (run now, in this
process: the embedded default) or to rq on Redis (`metacrm worker` runs them).
If Redis is down the events stay `pending`; `Jobs.sweep` (the scheduler, every
second) hands on whatever is due: new events, retries, and events whose claim
lapsed because a worker died.

`Jobs.run_many` runs a batch of events (jobs.runner): effects and done
marks commit together, failures retry with backoff, then the dead-letter list.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from sqlalchemy import or_, select, update

from metacrm.platform.db.outbox import event_ids_in, now
from metacrm.platform.jobs.handlers import EventHandler
from metacrm.plugins.manager import gathered

log = logging.getLogger("metacrm.jobs")

SWEEP_BATCH = 500
SCHEDULED_EVERY = dt.timedelta(seconds=60)  # metacrm_scheduled: at most this often per tenant
BATCH = 500  # events run in one transaction


class Jobs:
    """Owned by the Runtime: the handlers, the dispatch mode, the sweep."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self._handlers: list[EventHandler] | None = None
        self._queue = None
        self.inline = not self.settings.redis_url
        self._scheduled_at: dict[str, dt.datetime] = {}

    # -- who listens ---------------------------------------------------------------
    @property
    def handlers(self) -> list[EventHandler]:
        if self._handlers is None:
            self._handlers = gathered(self.runtime.pm.hook.metacrm_event_handlers())
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
                .where(event_ids_in(outbox, conn, ids), outbox.c.status == "pending")
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

    def scheduled_due(self, tenant: str, now: dt.datetime) -> bool:
        """Is the tenant's time-based work (`metacrm_scheduled`) due? At most once per
        SCHEDULED_EVERY, for every plugin at once, so no hook throttles itself."""
        last = self._scheduled_at.get(tenant)
        if last is not None and dt.timedelta(0) <= now - last < SCHEDULED_EVERY:
            return False
        self._scheduled_at[tenant] = now
        return True

    # -- running one event ------------------------------------------------------
    def run(self, state, event_id: str) -> str:
        """Run one event's handlers; returns its status afterwards."""
        statuses = self.run_many(state, [event_id])
        return next(iter(statuses), "missing")

    def run_many(self, state, event_ids: list[str]) -> dict[str, int]:
        """Run events (a batch); how many ended in each status (see jobs.runner)."""
        from metacrm.platform.jobs.runner import EventRunner

        return EventRunner(self, state).run_many(event_ids)
