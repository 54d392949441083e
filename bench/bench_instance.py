"""A throwaway metacrm instance for a benchmark: a temporary data directory (SQLite)
or a fresh schema prefix (PostgreSQL), removed afterwards."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def bench_app(database_url: str | None, label: str) -> Iterator:
    """The Flask app of a new instance (its runtime: app.extensions["metacrm"])."""
    from sqlalchemy import create_engine, text

    from metacrm.platform.app import create_app
    from metacrm.platform.settings import settings_from_env

    tmp = Path(tempfile.mkdtemp(prefix=f"metacrm-{label}-"))
    env = {"METACRM_DATA_DIR": str(tmp)}
    prefix = f"b{uuid.uuid4().hex[:8]}_"
    if database_url:
        env.update(METACRM_DATABASE_URL=database_url, METACRM_SCHEMA_PREFIX=prefix)
    app = create_app(settings_from_env(env))
    try:
        yield app
    finally:
        app.extensions["metacrm"].close()
        shutil.rmtree(tmp, ignore_errors=True)
        if database_url:
            engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.begin() as conn:
                for (name,) in conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                    {"p": prefix + "%"},
                ).all():
                    conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            engine.dispose()
