"""Release 3: release 2 plus a patch that fails (a column that already exists)."""

from sqlalchemy import text

from metacrm.platform.db.patches import Patch
from metacrm.plugins.hookspecs import hookimpl
from tests.platform.patch_plugins.v2 import PATCHES, metacrm_system_tables  # noqa: F401


def _broken(conn) -> None:
    conn.execute(text("UPDATE _ratings SET note = 'half done'"))
    conn.execute(text("ALTER TABLE _ratings ADD COLUMN note VARCHAR(10)"))


@hookimpl
def metacrm_patches():
    return [*PATCHES, Patch("ratings.broken", _broken)]
