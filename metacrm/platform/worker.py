"""`metacrm worker` (rq on Redis) and `metacrm scheduler` (the outbox sweep).

The worker is an rq SimpleWorker: jobs run in the worker process itself (no fork
per job, so one worker keeps its database pools and compiled models warm). The
rq job names only the tenant and event ids; the outbox row is the truth, so a
job lost with a dead worker costs nothing: the sweep hands its events on again
once their claim lapses.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import threading
import time
from pathlib import Path

log = logging.getLogger("metacrm.worker")

# The one Runtime of a worker process. rq imports job functions by name, so this
# process-level slot is how a job reaches the runtime `metacrm worker` built.
_process_runtime = None
_process_lock = threading.Lock()


def use_runtime(runtime) -> None:
    global _process_runtime
    _process_runtime = runtime


def _runtime():
    global _process_runtime
    with _process_lock:
        if _process_runtime is None:
            from metacrm.platform.runtime import Runtime
            from metacrm.platform.settings import settings_from_env

            _process_runtime = Runtime(settings_from_env())
        return _process_runtime


def run_events(tenant: str, event_ids: list[str]) -> dict:
    """The rq job: run the events of one commit as a batch (see jobs.Jobs.run_many)."""
    runtime = _runtime()
    return runtime.jobs.run_many(runtime.tenants.state(tenant), event_ids)


def work(runtime, burst: bool = False) -> None:
    from rq import SimpleWorker

    use_runtime(runtime)
    queue = runtime.jobs.queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.work(burst=burst, logging_level="WARNING")


def sweep_all(runtime) -> int:
    """One pass of the scheduler over every tenant; how many events were handed on."""
    handed = 0
    for name in runtime.tenants.names():
        try:
            state = runtime.tenants.state(name)
            handed += runtime.jobs.sweep(state)
            now = dt.datetime.now(dt.UTC)
            if runtime.jobs.scheduled_due(name, now):
                runtime.pm.hook.metacrm_scheduled(runtime=runtime, state=state, now=now)
        except Exception:  # one broken tenant must not stop the others
            log.exception("sweep of tenant %s failed", name)
    return handed


def schedule(runtime, interval: float = 1.0, once: bool = False, stop=None) -> None:
    """Sweep every `interval` seconds until `stop` (a threading.Event) is set."""
    while True:
        sweep_all(runtime)
        if once or (stop is not None and stop.wait(interval)):
            return
        if stop is None:
            time.sleep(interval)


def schedule_as_leader(runtime, lock_path: Path, stop: threading.Event, retry: float = 5.0) -> None:
    """Sweep while this process holds `lock_path` (an flock); otherwise wait for it.

    `metacrm serve` runs this in a thread of every gunicorn worker: one of them
    sweeps, and when it dies the kernel drops its lock and another takes over.
    No separate scheduler process (and its ~58 MiB) is needed.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        while not stop.is_set():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                stop.wait(retry)
                continue
            try:
                schedule(runtime, stop=stop)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
