"""Upgrading the system tables of databases made by an earlier release: a patch log.

Metadata changes are planned and applied by db.migrations; the platform's (and the
engines') own tables change with the code instead. Each such change is a `Patch`: a
name, recorded in the database's `_patches` table once it ran (in the spirit of
Frappe's patches.txt). A database made fresh gets the latest tables and every known
patch recorded as applied; an older one runs the patches it has not recorded, in
order, inside the caller's transaction (a failing patch leaves nothing changed).

Patches must be idempotent (check before they change: `add_column_if_missing`): a
plugin installed later creates its tables in their latest shape, then meets its own
patches on a database that already has rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError


class PatchFailed(Exception):
    """A patch did not apply; the database is as it was."""


@dataclass(frozen=True)
class Patch:
    name: str  # unique and stable: "<package>.<what it does>"
    apply: Callable[[Connection], None]
    doc: str = ""


def patches_table(metadata: MetaData) -> Table:
    return Table(
        "_patches",
        metadata,
        Column("name", String(200), primary_key=True),
        Column("applied_at", DateTime(timezone=True), nullable=False),
        # a fresh database records every known patch without running it
        Column("ran", Boolean, nullable=False),
    )


def apply_patches(
    conn: Connection, table: Table, patches: Iterable[Patch], fresh: bool
) -> list[str]:
    """Run (or, on a `fresh` database, record) the patches not in the log; their names."""
    done = set(conn.execute(select(table.c.name)).scalars())
    applied = []
    for patch in patches:
        if patch.name in done:
            continue
        if not fresh:
            try:
                with conn.begin_nested():
                    patch.apply(conn)
            except SQLAlchemyError as exc:
                reason = getattr(exc, "orig", None) or exc
                raise PatchFailed(
                    f"patch {patch.name} failed, nothing was changed: {reason}"
                ) from exc
        conn.execute(
            insert(table).values(name=patch.name, applied_at=dt.datetime.now(dt.UTC), ran=not fresh)
        )
        done.add(patch.name)
        applied.append(patch.name)
    return applied


def add_column_if_missing(conn: Connection, table: str, column: Column) -> None:
    """The usual patch: a column a newer release added to one of its tables."""
    if column.name in {c["name"] for c in inspect(conn).get_columns(table)}:
        return
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    Operations(MigrationContext.configure(connection=conn)).add_column(table, column)


PLATFORM_PATCHES: tuple[Patch, ...] = (
    Patch(
        "platform.users_language",
        lambda conn: add_column_if_missing(conn, "_users", Column("language", String(16))),
        "the language each user chose for the screens",
    ),
)
