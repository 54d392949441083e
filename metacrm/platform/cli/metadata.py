"""`metacrm metadata validate|plan|apply|export`: checking and applying metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from metacrm.platform.cli.base import build_runtime, main


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
    from metacrm.platform.runtime import (
        expression_registry,
        field_types,
        package_paths,
        params_schemas,
        plugin_actions,
    )
    from metacrm.platform.settings import settings_from_env
    from metacrm.plugins.manager import make_plugin_manager

    # the same plugins (METACRM_PLUGINS, entry points) and packages (METACRM_PACKAGES) as
    # the runtime: a pack that uses a plugin's function or field type validates as it will run
    settings = settings_from_env(secret_key="unused")  # reads nothing else from disk
    pm = make_plugin_manager(settings.plugins)
    base = [p.resolve() for p in package_paths(pm, settings)] if with_installed else []
    wanted = [p.resolve() for p in paths]
    try:
        model = load_and_compile(
            [*[b for b in base if b not in wanted], *wanted],
            registry=expression_registry(pm),
            field_types=field_types(pm),
            actions=params_schemas(plugin_actions(pm)),
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
    from metacrm.platform.tenancy.overlay_conflicts import reconcile
    from metacrm.platform.tenancy.registry import latest_overlay

    rt = build_runtime()
    name = tenant or rt.settings.default_tenant
    if not rt.tenants.exists(name):
        raise click.ClickException(f"no tenant '{name}': run `metacrm init` first")
    engine = rt.tenants.engine(name)
    try:
        with write_engine(engine).connect() as conn:
            transaction = conn.begin()
            try:
                overlay = latest_overlay(
                    conn, migrations.ensure_system_tables(conn, rt.system_schema)
                )
                model, conflicts = reconcile(rt.compile, overlay)
                plan = migrations.sync_model(
                    conn,
                    model,
                    allow_destructive=allow_destructive,
                    applied_by="cli",
                    dry_run=not apply,
                    fill_formulas=rt.formula_filler(rt.tenants.timezone(name)),
                    system_schema=rt.system_schema,
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
    for conflict in conflicts:  # after an upgrade: the tenant's pieces that no longer fit
        click.echo(
            f"set aside (see /setup/conflicts): {conflict.where}: {'; '.join(conflict.errors)}"
        )
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
    """Write the tenant overlay as a package folder (package.yaml, entities/, pipelines/...)."""
    from metacrm.platform.tenancy.overlay_package import package_files

    rt = build_runtime()
    state = rt.tenant(tenant)
    files = package_files(tenant, [name for name, _ in state.model.packages], state.overlay)
    (out_dir / "entities").mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (out_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / path).write_text(text)
    written = len(files) - 1
    click.echo(f"exported {written} document(s) to {out_dir}")
    rt.close()
