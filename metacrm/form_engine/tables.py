"""The screens' own tables, added to every tenant's system tables through the
`metacrm_system_tables` hook (changed later only through `metacrm_patches`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, UniqueConstraint

from metacrm.platform.db.tables import ID, TZ_DATETIME

MAX_VIEW_NAME = 100


def saved_view_tables(metadata: MetaData) -> dict[str, Table]:
    return {
        "saved_views": Table(
            "_saved_views",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("user_id", BigInteger, nullable=False),
            Column("entity", String(63), nullable=False),
            Column("name", String(MAX_VIEW_NAME), nullable=False),
            Column("query", Text, nullable=False),
            Column("created_at", TZ_DATETIME, nullable=False),
            UniqueConstraint("user_id", "entity", "name", name="uq_saved_views_name"),
        )
    }
