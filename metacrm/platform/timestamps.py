"""One timestamp form everywhere the platform answers: RFC 3339 in UTC with `Z`.

Records, history, executions, notifications, approvals, imports and pools all
use it, so a client parses one shape (`2026-11-28T21:52:23.002599Z`; a value with
no fraction of a second keeps none, so `2026-01-31T02:00:00Z` reads back as written).
The datetime field type owns the format (metadata.field_types.temporal).
"""

from __future__ import annotations

from metacrm.metadata.field_types import rfc3339

__all__ = ["rfc3339"]
