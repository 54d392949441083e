"""`metacrm import` and `metacrm export`: records in and out of files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from metacrm.platform.cli.base import build_runtime, main


def _service_as(tenant: str | None, username: str):
    from metacrm.platform.access import auth
    from metacrm.platform.access.context import Context
    from metacrm.platform.access.permissions import load_access
    from metacrm.platform.records.service import RecordService

    rt = build_runtime()
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
            every = list(bar)
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from exc
    headers = transfer.header_labels(service, entity, columns, lang) if lang else None
    if file.suffix.lower() == ".xlsx":
        file.write_bytes(transfer.write_xlsx(columns, every, headers))
    else:
        file.write_text("".join(transfer.write_csv(columns, every, headers)), encoding="utf-8")
    click.echo(f"exported {len(every)} {entity} record(s) to {file}")
    rt.close()


if __name__ == "__main__":
    main()
