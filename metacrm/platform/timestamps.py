"""One timestamp form everywhere the platform answers: RFC 3339 in UTC with `Z`.

Records, history, executions, notifications, approvals, imports and pools all
use it, so a client parses one shape (`2026-11-28T21:52:23.002599Z`; a value with
no fraction of a second keeps none, so `2026-01-31T02:00:00Z` reads back as written).
"""

from __future__ import annotations

import datetime as dt
import functools


@functools.lru_cache(maxsize=1024)
def _format(value: dt.datetime) -> str:
    if value.tzinfo is not None:  # SQLite hands back naive values, stored as UTC
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def rfc3339(value: dt.datetime | None) -> str | None:
    """`value` in UTC as RFC 3339 (cached: a bulk write stamps every row alike)."""
    return None if value is None else _format(value)
