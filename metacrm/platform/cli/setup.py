"""`metacrm init`, `tenant create`, `user create`, `token create`: setting a tenant up."""

from __future__ import annotations

import os
import secrets

import click

from metacrm.platform.cli.base import build_runtime, main
from metacrm.plugins.manager import merged


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

    rt = build_runtime()
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
        counts = merged(
            rt.pm.hook.metacrm_demo_data(
                runtime=rt, tenant=name, service=service, context=service.context
            )
        )
        click.echo("demo data: " + ", ".join(f"{n} {e}" for e, n in counts.items()))
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
    rt = build_runtime()
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
    rt = build_runtime()
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

    rt = build_runtime()
    state = rt.tenant(tenant)
    found = auth.find_user(state, username)
    if found is None:
        raise click.ClickException(f"no user '{username}' in tenant '{state.name}'")
    click.echo(auth.create_token(state, found.id, name))
    rt.close()
