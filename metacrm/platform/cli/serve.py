"""`metacrm serve`, `worker`, `scheduler`: running the app and its background work."""

from __future__ import annotations

import contextlib
import os

import click

from metacrm.platform.cli.base import build_runtime, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers", default=None, type=int, help="gunicorn worker processes (default: one per core)."
)
@click.option("--threads", default=4, show_default=True, type=int)
@click.option(
    "--dev", is_flag=True, help="Flask's reloading development server instead of gunicorn."
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Without Redis, do not sweep the outbox in the workers (run `metacrm scheduler`).",
)
def serve(
    host: str, port: int, workers: int | None, threads: int, dev: bool, no_scheduler: bool
) -> None:
    """Serve the app (gunicorn, production mode)."""
    if dev:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise click.ClickException(
                "--dev serves Flask's debugger, which runs code: it listens on loopback only"
            )
        from metacrm.platform.app import create_app

        create_app().run(host=host, port=port, debug=True)
        return
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers or os.cpu_count() or 2)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("limit_request_line", 8190)  # gunicorn's most; the API documents 414
            sweep = not os.environ.get("METACRM_REDIS_URL") and not no_scheduler
            self.cfg.set("post_worker_init", lambda worker: _worker_ready(worker, sweep))

        def load(self):
            from metacrm.platform.app import create_app

            return create_app()

    click.echo(f"metacrm serving on http://{host}:{port}")
    _App().run()


def _worker_ready(worker, sweep: bool) -> None:
    """gunicorn hook, in each worker after the fork: warm what metadata changes need and,
    with inline jobs, take part in the scheduler election (one worker sweeps at a time)."""
    import threading

    from metacrm.platform.db.migrations import preload_ddl
    from metacrm.platform.worker import schedule_as_leader

    preload_ddl()
    if sweep:
        runtime = worker.wsgi.extensions["metacrm"]
        lock = runtime.settings.data_dir / "scheduler.lock"
        threading.Thread(
            target=schedule_as_leader,
            args=(runtime, lock, threading.Event()),
            name="metacrm-scheduler",
            daemon=True,
        ).start()


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run jobs from Redis (rq); needs METACRM_REDIS_URL."""
    rt = build_runtime()
    if rt.jobs.inline:
        raise click.ClickException(
            "METACRM_REDIS_URL is not set: jobs run inline in the app (no worker needed)"
        )
    from metacrm.platform.worker import work

    work(rt, burst=burst)


@main.command()
@click.option("--interval", default=1.0, show_default=True, help="Seconds between sweeps.")
@click.option("--once", is_flag=True, help="One sweep, then exit.")
def scheduler(interval: float, once: bool) -> None:
    """Hand due outbox events on (retries, events Redis missed, lapsed claims), every second."""
    from metacrm.platform.worker import schedule, use_runtime

    rt = build_runtime()
    use_runtime(rt)
    with contextlib.suppress(KeyboardInterrupt):
        schedule(rt, interval=interval, once=once)
