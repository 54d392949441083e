"""Per-tenant secrets (the webhook signing key): made on first use, rotated by an admin.

Each tenant signs with its own key, so a receiver configured for one tenant never
accepts another tenant's calls, and rotating one tenant's key touches no other.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from metacrm.platform.tenancy.registry import TenantState

WEBHOOK = "webhook_signing"


def get_secret(state: TenantState, name: str = WEBHOOK, conn: Connection | None = None) -> str:
    """The tenant's secret `name`, made now if it has none yet (in `conn`'s transaction
    when given: a job's own transaction holds SQLite's one write lock)."""
    if conn is None:
        with state.write.begin() as own:
            return get_secret(state, name, own)
    table = state.system["secrets"]
    value = conn.scalar(select(table.c.value).where(table.c.name == name))
    if value is not None:
        return value
    value = secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(table).values(name=name, value=value, created_at=dt.datetime.now(dt.UTC))
            )
    except IntegrityError:  # made by someone else meanwhile: theirs wins
        value = conn.execute(select(table.c.value).where(table.c.name == name)).scalar_one()
    return value


def rotate_secret(state: TenantState, name: str = WEBHOOK) -> str:
    table = state.system["secrets"]
    value = secrets.token_urlsafe(32)
    with state.write.begin() as conn:
        conn.execute(delete(table).where(table.c.name == name))
        conn.execute(
            insert(table).values(name=name, value=value, created_at=dt.datetime.now(dt.UTC))
        )
    return value
