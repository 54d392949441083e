"""The explicit context of one operation: who, which tenant, which locale, when.

The only module that reads `flask.g`; services receive a Context argument.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from metacrm.platform.access.permissions import SYSTEM_ACCESS, Access


@dataclass(frozen=True)
class Context:
    tenant: str
    user_id: int | None = None
    username: str | None = None
    is_admin: bool = False
    locale: str = "en"
    access: Access = SYSTEM_ACCESS
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    depth: int = 0  # how many events deep this write is (jobs' loop guard)
    # the platform's own writes (automations, event handlers): read_only fields, which
    # protect values from people, are writable; computed fields never are
    system_writes: bool = False

    @classmethod
    def system(cls, tenant: str, user_id: int | None = None) -> Context:
        """For the CLI and jobs: acts with full rights, attributed to `user_id` if given."""
        return cls(tenant=tenant, user_id=user_id, username="system", is_admin=True)


def current_context() -> Context:
    from flask import g

    return g.metacrm_context
