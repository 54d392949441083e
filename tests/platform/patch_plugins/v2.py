"""Release 2: the table has a `note` column; databases made by release 1 get it from
the first patch, and the second fills it in (and leaves a marker row: run twice, it
would leave two)."""

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, update

from metacrm.platform.db.patches import Patch, add_column_if_missing
from metacrm.plugins.hookspecs import hookimpl


def note() -> Column:
    return Column("note", String(40))


def ratings(metadata: MetaData) -> Table:
    return Table("_ratings", metadata, Column("id", Integer, primary_key=True), note())


@hookimpl
def metacrm_system_tables(metadata: MetaData):
    return {"ratings": ratings(metadata)}


def _fill_notes(conn) -> None:
    table = ratings(MetaData())
    conn.execute(update(table).where(table.c.note.is_(None)).values(note="from release 1"))
    conn.execute(insert(table).values(id=1000, note="marker"))


PATCHES = [
    Patch("ratings.add_note", lambda conn: add_column_if_missing(conn, "_ratings", note())),
    Patch("ratings.fill_notes", _fill_notes),
]


@hookimpl
def metacrm_patches():
    return PATCHES
