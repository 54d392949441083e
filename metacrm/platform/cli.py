"""The `metacrm` command line (also `python -m metacrm`)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from pathlib import Path

import click

# Imports of the app and metadata engine are inside the commands, so `metacrm serve`'s
# gunicorn master stays small (workers import the app when they boot).


def _runtime():
    from metacrm.platform.runtime import Runtime
    from metacrm.platform.settings import settings_from_env

    return Runtime(settings_from_env())


@click.group()
def main() -> None:
    """metacrm: a CRM whose entities, fields and processes are metadata."""


@main.command()
@click.option("--demo", is_flag=True, help="Add realistic demo data.")
@click.option("--tenant", default=None, help="Tenant to create (default: 'default').")
@click.option(
    "--timezone",
    default=None,
    help="The tenant's IANA timezone (default: METACRM_TIMEZONE or UTC).",
)
def init(demo: bool, tenant: str | None, timezone: str | None) -> None:
    """Create the database, apply metadata and create the user `admin`."""
    from metacrm.metadata.errors import MetadataInvalid
    from metacrm.platform.access import auth
    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService

    rt = _runtime()
    name = tenant or rt.settings.default_tenant
    existed = rt.tenants.exists(name)
    try:
        state = rt.tenants.create(name, applied_by="init", timezone=timezone)
    except MetadataInvalid as exc:
        raise click.ClickException(f"the installed metadata is invalid:\n{exc}") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"tenant '{name}' ready ({len(state.model.entities)} entities, metadata {state.model.content_hash[:12]})"
    )
    admin = auth.find_user(state, "admin")
    if admin is None:
        password = os.environ.get("METACRM_ADMIN_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        admin_id = auth.create_user(
            state, "admin", password, is_admin=True, display_name="Administrator"
        )
        click.echo(
            "created user 'admin'"
            + (
                f" with password: {password}"
                if generated
                else " (password from METACRM_ADMIN_PASSWORD)"
            )
        )
    else:
        admin_id = admin.id
        click.echo("user 'admin' already exists")
    if demo and existed:
        click.echo("demo data skipped: the tenant already existed")
    elif demo:
        service = RecordService(state, Context.system(name, admin_id), rt.pm, rt.registry)
        counts: dict = {}
        for result in rt.pm.hook.metacrm_demo_data(
            runtime=rt, tenant=name, service=service, context=service.context
        ):
            counts.update(result or {})
        click.echo("demo data: " + ", ".join(f"{n} {e}" for e, n in counts.items()))
    rt.close()


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
    rt = _runtime()
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

    rt = _runtime()
    use_runtime(rt)
    with contextlib.suppress(KeyboardInterrupt):
        schedule(rt, interval=interval, once=once)


@main.group()
def metadata() -> None:
    """Validate, plan, apply and export metadata."""


@metadata.command("validate")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--with-installed/--alone",
    default=True,
    show_default=True,
    help="Layer the paths on the installed packages (needed for `extend:`).",
)
def validate_cmd(paths: tuple[Path, ...], with_installed: bool) -> None:
    """Validate package folders; list every error as file:line path: message."""
    from metacrm.metadata.compiler import load_and_compile
    from metacrm.metadata.errors import MetadataInvalid
    from metacrm.platform.runtime import expression_registry, package_paths
    from metacrm.platform.settings import settings_from_env
    from metacrm.plugins.manager import make_plugin_manager

    # the same plugins (METACRM_PLUGINS, entry points) and packages (METACRM_PACKAGES) as
    # the runtime: a pack that uses a plugin's function validates as it will run
    settings = settings_from_env(secret_key="unused")  # reads nothing else from disk
    pm = make_plugin_manager(settings.plugins)
    base = [p.resolve() for p in package_paths(pm, settings)] if with_installed else []
    wanted = [p.resolve() for p in paths]
    try:
        model = load_and_compile(
            [*[b for b in base if b not in wanted], *wanted], registry=expression_registry(pm)
        )
    except MetadataInvalid as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(exc.errors)} error(s)", err=True)
        sys.exit(1)
    click.echo(
        f"ok: {len(model.entities)} entities, {len(model.pipelines)} pipelines, {len(model.views)} views, "
        f"{len(model.approvals)} approval flows, {len(model.automations)} automations (hash {model.content_hash[:12]})"
    )


def _plan(tenant: str | None, apply: bool, allow_destructive: bool) -> None:
    from metacrm.metadata.errors import MetadataInvalid
    from metacrm.platform.db import migrations
    from metacrm.platform.db.database import write_engine
    from metacrm.platform.tenancy.registry import latest_overlay

    rt = _runtime()
    name = tenant or rt.settings.default_tenant
    if not rt.tenants.exists(name):
        raise click.ClickException(f"no tenant '{name}': run `metacrm init` first")
    engine = rt.tenants.engine(name)
    try:
        with write_engine(engine).connect() as conn:
            transaction = conn.begin()
            try:
                overlay = latest_overlay(conn, migrations.ensure_system_tables(conn))
                model = rt.compile(overlay)
                plan = migrations.sync_model(
                    conn,
                    model,
                    allow_destructive=allow_destructive,
                    applied_by="cli",
                    dry_run=not apply,
                    registry=rt.registry,
                    timezone=rt.tenants.timezone(name),
                )
            except BaseException:
                transaction.rollback()
                raise
            if apply:
                transaction.commit()
            else:
                transaction.rollback()
    except MetadataInvalid as exc:
        raise click.ClickException(f"metadata is invalid:\n{exc}") from exc
    except migrations.MigrationRefused as exc:
        click.echo(exc.plan.describe())
        raise click.ClickException(str(exc)) from exc
    click.echo(plan.describe())
    if apply:
        click.echo("applied" if plan.steps else "nothing to apply")
    rt.close()


@metadata.command("plan")
@click.option("--tenant", default=None)
@click.option("--allow-destructive", is_flag=True)
def plan_cmd(tenant: str | None, allow_destructive: bool) -> None:
    """Show the migration plan for the installed metadata, without applying it."""
    _plan(tenant, apply=False, allow_destructive=allow_destructive)


@metadata.command("apply")
@click.option("--tenant", default=None)
@click.option(
    "--allow-destructive", is_flag=True, help="Archive removed fields' columns instead of refusing."
)
def apply_cmd(tenant: str | None, allow_destructive: bool) -> None:
    """Apply the installed metadata to the tenant's database in one transaction."""
    _plan(tenant, apply=True, allow_destructive=allow_destructive)


@metadata.command("export")
@click.option("--tenant", required=True)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def export_cmd(tenant: str, out_dir: Path) -> None:
    """Write the tenant overlay as a package folder (package.yaml + entities/*.yaml)."""
    import yaml

    rt = _runtime()
    state = rt.tenant(tenant)
    overlay = state.overlay
    (out_dir / "entities").mkdir(parents=True, exist_ok=True)
    base = [name for name, _ in state.model.packages]
    manifest = {
        "name": f"{tenant}_overlay",
        "version": "1.0.0",
        "label": f"Overlay of tenant {tenant}",
        "depends_on": base,
    }
    (out_dir / "package.yaml").write_text(
        yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
    )
    written = 0
    for name, decl in overlay.get("entities", {}).items():
        (out_dir / "entities" / f"{name}.yaml").write_text(
            yaml.safe_dump(decl, sort_keys=False, allow_unicode=True)
        )
        written += 1
    for name, decl in overlay.get("extend", {}).items():
        doc = {"extend": name, **decl}
        (out_dir / "entities" / f"{name}.extend.yaml").write_text(
            yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        )
        written += 1
    click.echo(f"exported {written} document(s) to {out_dir}")
    rt.close()


@main.group()
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("name")
@click.option(
    "--timezone",
    default=None,
    help="IANA timezone for today()/now() (default: METACRM_TIMEZONE or UTC).",
)
def tenant_create(name: str, timezone: str | None) -> None:
    """Create an isolated tenant (a PostgreSQL schema, or a SQLite file)."""
    rt = _runtime()
    try:
        rt.tenants.create(name, applied_by="cli", timezone=timezone)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"tenant '{name}' created")
    rt.close()


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("username")
@click.option("--password", default=None, help="Prompted for when omitted.")
@click.option("--admin", is_flag=True)
@click.option("--email", default=None)
@click.option("--role", "roles", multiple=True, help="A role name (repeat for several).")
@click.option(
    "--manager", default=None, help="The username of the user's manager (reporting line)."
)
@click.option("--tenant", default=None)
def user_create(username, password, admin, email, roles, manager, tenant) -> None:
    """Create a user with roles and a manager."""
    from metacrm.platform.access import auth, users
    from metacrm.platform.errors import ServiceError

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = _runtime()
    state = rt.tenant(tenant)
    body = {
        "username": username,
        "password": password,
        "is_admin": admin,
        "email": email,
        "roles": list(roles),
    }
    if manager:
        found = auth.find_user(state, manager)
        if found is None:
            raise click.ClickException(f"no user '{manager}' to be the manager")
        body["manager"] = found.id
    try:
        created = users.create_user(state, body)
    except ServiceError as exc:
        raise click.ClickException(
            "; ".join(e["message"] for e in exc.errors) or exc.detail
        ) from exc
    click.echo(
        f"user '{username}' created"
        + (f" with roles {', '.join(created['roles'])}" if created["roles"] else "")
    )
    rt.close()


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--user", "username", required=True)
@click.option("--tenant", default=None)
@click.option("--name", default=None)
def token_create(username: str, tenant: str | None, name: str | None) -> None:
    """Print a new API token for the user (alone on stdout)."""
    from metacrm.platform.access import auth

    rt = _runtime()
    state = rt.tenant(tenant)
    found = auth.find_user(state, username)
    if found is None:
        raise click.ClickException(f"no user '{username}' in tenant '{state.name}'")
    click.echo(auth.create_token(state, found.id, name))
    rt.close()


def _service_as(tenant: str | None, username: str):
    from metacrm.platform.access import auth
    from metacrm.platform.access.context import Context
    from metacrm.platform.access.permissions import load_access
    from metacrm.platform.records.service import RecordService

    rt = _runtime()
    state = rt.tenant(tenant)
    user = auth.find_user(state, username)
    if user is None or not user.is_active:
        raise click.ClickException(f"no active user '{username}' in tenant '{state.name}'")
    access = load_access(state, user.id, user.is_admin)
    ctx = Context(
        tenant=state.name,
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        access=access,
    )
    return rt, RecordService(state, ctx, rt.pm, rt.registry)


def _pairs(option: str, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.strip():
            raise click.BadParameter(f"{value!r}: write NAME=VALUE", param_hint=option)
        out[left.strip()] = right.strip()
    return out


@main.command("import")
@click.argument("entity")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", default=None, help="Upsert: update records whose KEY field matches.")
@click.option(
    "--skip-bad-rows",
    is_flag=True,
    help="Write the good rows and report the bad ones (default: all or nothing).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every row, write nothing; print the mapping and a preview.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Fill FIELD from COLUMN (repeatable; COLUMN= leaves it out). Other columns map by field name or label.",
)
@click.option(
    "--match",
    "matches",
    multiple=True,
    metavar="FIELD=TARGET_FIELD",
    help="Match names in reference FIELD on TARGET_FIELD of the target (default: its title field).",
)
@click.option(
    "--user",
    "username",
    default="admin",
    show_default=True,
    help="Import as this user (their permissions apply).",
)
@click.option("--tenant", default=None)
def import_cmd(entity, file, key, skip_bad_rows, dry_run, maps, matches, username, tenant) -> None:
    """Import a CSV or XLSX file into ENTITY, with a progress bar and a report of every bad row."""
    from metacrm.platform.errors import ServiceError
    from metacrm.platform.transfer import files as transfer

    mapping, match = _pairs("--map", maps), _pairs("--match", matches)
    rt, service = _service_as(tenant, username)
    rows = list(transfer.read_table(file, file.name))
    try:
        with click.progressbar(
            length=len(rows), label=f"importing {len(rows)} rows", file=sys.stderr
        ) as bar:
            report = transfer.import_rows(
                service,
                entity,
                rows,
                key=key,
                mapping=mapping,
                match=match,
                skip_bad_rows=skip_bad_rows,
                dry_run=dry_run,
                progress=bar.update,
            )
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from exc
    if report.mapping is not None:
        for column, name in report.mapping.fields.items():
            click.echo(f"column {column!r} -> {name}", err=True)
        for column, why in report.mapping.ignored.items():
            click.echo(f"column {column!r} ignored: {why}", err=True)
        for name, target in report.mapping.match.items():
            click.echo(f"{name}: names matched on {target}", err=True)
    for item in report.preview:
        click.echo(f"row {item['row']} would be: {json.dumps(item['values'], ensure_ascii=False)}")
    for e in report.errors:
        click.echo(f"row {e['row']}: {e['field'] or '-'}: {e['message']}", err=True)
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{verb}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.skipped} skipped, {len(report.errors)} error(s) of {report.total} rows"
    )
    rt.close()
    if report.errors and not skip_bad_rows:
        sys.exit(1)


@main.command("export")
@click.argument("entity")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--filter", "filter_", default=None, help="An expression, as the API's filter=.")
@click.option(
    "--labels",
    "lang",
    default=None,
    metavar="LANG",
    help="Headers as field labels in LANG (en, zh-CN) instead of field names.",
)
@click.option("--user", "username", default="admin", show_default=True)
@click.option("--tenant", default=None)
def export_records_cmd(entity, file, filter_, lang, username, tenant) -> None:
    """Export ENTITY to FILE (.csv or .xlsx), as the user may read it."""
    from metacrm.platform.errors import ServiceError
    from metacrm.platform.transfer import files as transfer

    rt, service = _service_as(tenant, username)
    try:
        columns, rows = transfer.export_rows(
            service, entity, {"filter": [filter_]} if filter_ else {}
        )
        with click.progressbar(rows, label="exporting", file=sys.stderr) as bar:
            rows = list(bar)
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from exc
    headers = transfer.header_labels(service, entity, columns, lang) if lang else None
    if file.suffix.lower() == ".xlsx":
        file.write_bytes(transfer.write_xlsx(columns, rows, headers))
    else:
        file.write_text("".join(transfer.write_csv(columns, rows, headers)), encoding="utf-8")
    click.echo(f"exported {len(rows)} {entity} record(s) to {file}")
    rt.close()


if __name__ == "__main__":
    main()
