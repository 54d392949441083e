"""Release 1: a table, no patches."""

from sqlalchemy import Column, Integer, MetaData, Table

from metacrm.plugins.hookspecs import hookimpl


@hookimpl
def metacrm_system_tables(metadata: MetaData):
    return {"ratings": Table("_ratings", metadata, Column("id", Integer, primary_key=True))}
