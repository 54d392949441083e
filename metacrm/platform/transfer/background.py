"""Imports as background jobs with a progress figure.

`submit` stores the file and an `import.run` outbox event in one transaction;
the event runs `transfer.import_rows` with the submitter's permissions, inline
or on a worker. Each batch records, inside its own transaction, the last row it
covered and the report so far, so a job run again after a crash resumes where
the committed work ends and never imports a row twice. Progress (rows handled)
goes to the control database beside the work, where it can be read while the
import's own transaction is still open (SQLite allows one writer per file).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update

from metacrm.platform.db.outbox import new_event, write_events
from metacrm.platform.errors import BadQuery, NotFound
from metacrm.platform.jobs.handlers import EventHandler, HandlerRun
from metacrm.platform.records.service import RecordService
from metacrm.platform.timestamps import rfc3339
from metacrm.platform.transfer import files as transfer
from metacrm.plugins.hookspecs import hookimpl


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def submit(
    service: RecordService, entity_name: str, data: bytes, filename: str, options: dict
) -> dict:
    """Queue an import of `data`; the same checks as a synchronous import, up front."""
    entity = service.entity(entity_name)
    service.require(entity, "create")
    if options.get("key"):
        service.require(entity, "update")
    try:
        total = sum(1 for _ in transfer.read_table(data, filename))
    except (ValueError, KeyError, OSError) as exc:
        raise BadQuery(f"cannot read the file: {exc}") from exc
    state, ctx = service.state, service.context
    event = new_event("import.run", {}, entity=entity.name, depth=ctx.depth)
    imports = state.system["imports"]
    with state.write.begin() as conn:
        import_id = conn.execute(
            insert(imports)
            .values(
                entity=entity.name,
                filename=filename,
                options=options,
                data=data,
                status="queued",
                event_id=event["event_id"],
                total_rows=total,
                created_by=ctx.user_id,
                created_at=_now(),
            )
            .returning(imports.c.id)
        ).scalar_one()
        event["payload"] = {"import_id": import_id}
        ids = write_events(conn, state, [event])
    state.jobs.dispatch(state, ids)
    return status(service, import_id)


def run_for_real(service: RecordService, import_id: int) -> dict:
    """Queue the real import of a finished dry run's file, with its options (the import
    screen's "Import" after the preview): the file is not uploaded twice."""
    checked = status(service, import_id)  # 404 unless the submitter (or an admin) asks
    if not checked["options"].get("dry_run") or checked["status"] != "done":
        raise BadQuery(f"import {import_id} is not a finished dry run")
    imports = service.state.system["imports"]
    with service.state.engine.connect() as conn:
        data = conn.execute(select(imports.c.data).where(imports.c.id == import_id)).scalar_one()
    options = {**checked["options"], "dry_run": False}
    return submit(service, checked["entity"], data, checked["filename"], options)


def status(service: RecordService, import_id: int) -> dict:
    """The import as its submitter (or an admin) sees it."""
    state, ctx = service.state, service.context
    imports, outbox = state.system["imports"], state.system["outbox"]
    with state.engine.connect() as conn:
        row = conn.execute(
            select(imports, outbox.c.status.label("event_status"), outbox.c.last_error)
            .join(outbox, outbox.c.event_id == imports.c.event_id)
            .where(imports.c.id == import_id)
        ).first()
    if row is None or not (ctx.is_admin or row.created_by == ctx.user_id):
        raise NotFound(f"no import {import_id}")
    progress = _read_progress(service.state, import_id)
    done = max(row.committed_rows, progress or 0)
    if row.status == "done":
        done = row.total_rows or 0
    current = row.status
    if current != "done" and row.event_status == "dead":
        current = "failed"
    return {
        "id": row.id,
        "entity": row.entity,
        "filename": row.filename,
        "options": row.options,
        "status": current,
        "total_rows": row.total_rows,
        "processed_rows": done,
        "percent": round(100 * done / row.total_rows) if row.total_rows else 100,
        "report": row.report if row.status == "done" else None,
        "error": row.last_error if current == "failed" else None,
        "created_at": rfc3339(row.created_at),
        "finished_at": rfc3339(row.finished_at),
    }


def _progress_key(import_id: int) -> str:
    return f"import:{import_id}"


def _read_progress(state, import_id: int) -> int | None:
    from metacrm.platform.tenancy.registry import job_progress_table as progress

    registry = state.jobs.runtime.tenants
    with registry.control.connect() as conn:
        return conn.execute(
            select(progress.c.done).where(
                progress.c.tenant == state.name, progress.c.job == _progress_key(import_id)
            )
        ).scalar()


def _write_progress(run: HandlerRun, import_id: int, done: int, total: int) -> None:
    from metacrm.platform.db.database import write_engine
    from metacrm.platform.tenancy.registry import job_progress_table as progress

    key = {"tenant": run.state.name, "job": _progress_key(import_id)}
    with write_engine(run.runtime.tenants.control).begin() as conn:
        changed = conn.execute(
            update(progress)
            .where(progress.c.tenant == key["tenant"], progress.c.job == key["job"])
            .values(done=done, total=total, updated_at=_now())
        ).rowcount
        if not changed:
            conn.execute(insert(progress).values(**key, done=done, total=total, updated_at=_now()))


def _merge(base: dict | None, report: transfer.ImportReport) -> dict:
    """The report of a resumed run on top of what the earlier run committed."""
    now = report.as_dict()
    if not base:
        return now
    return {
        **now,
        **{k: base.get(k, 0) + now[k] for k in ("created", "updated", "unchanged", "skipped")},
        "errors": base["errors"] + now["errors"],
    }


def _run(run: HandlerRun) -> None:
    from metacrm.platform.access.context import Context
    from metacrm.platform.access.permissions import load_access
    from metacrm.platform.records.service import RecordService

    state = run.state
    imports, users = state.system["imports"], state.system["users"]
    import_id = run.event["payload"]["import_id"]
    with state.write.begin() as conn:
        row = conn.execute(select(imports).where(imports.c.id == import_id)).first()
        if row is None or row.status == "done":
            run.note("already finished")
            return
        user = conn.execute(select(users).where(users.c.id == row.created_by)).first()
        conn.execute(
            update(imports)
            .where(imports.c.id == import_id)
            .values(status="running", started_at=row.started_at or _now())
        )
    ctx = Context(
        tenant=state.name,
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        access=load_access(state, user.id, user.is_admin),
        depth=run.event["depth"] + 1,
    )
    service = RecordService(state, ctx, run.runtime.pm, run.runtime.registry)
    rows = list(transfer.read_table(row.data, row.filename))
    options, base = row.options, row.report
    handled = row.committed_rows

    def progress(count: int) -> None:
        nonlocal handled
        handled += count
        _write_progress(run, import_id, handled, len(rows))

    def on_batch(conn, last_row: int, report: transfer.ImportReport) -> None:
        conn.execute(
            update(imports)
            .where(imports.c.id == import_id)
            .values(committed_rows=last_row, report=_merge(base, report))
        )

    report = transfer.import_rows(
        service,
        row.entity,
        rows,
        key=options.get("key"),
        mapping=options.get("mapping"),
        match=options.get("match"),
        skip_bad_rows=options.get("mode") == "skip_bad_rows",
        dry_run=bool(options.get("dry_run")),
        progress=progress,
        start_after=row.committed_rows,
        on_batch=on_batch,
    )
    final = _merge(base, report)
    with state.write.begin() as conn:
        conn.execute(
            update(imports)
            .where(imports.c.id == import_id)
            .values(status="done", report=final, finished_at=_now(), committed_rows=len(rows))
        )
    run.note(
        f"import {import_id}: {final['created']} created, {final['updated']} updated, "
        f"{final['skipped']} skipped, {len(final['errors'])} errors"
    )


IMPORT_HANDLER = EventHandler(
    "platform.import",
    _run,
    lambda model, entity, topic: topic == "import.run",
    own_transactions=True,
)


@hookimpl
def metacrm_event_handlers():
    """Background imports run as outbox events, registered as any plugin's handlers."""
    return [IMPORT_HANDLER]
