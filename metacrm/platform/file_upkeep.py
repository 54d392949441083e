"""The platform's own time-based upkeep, through the hook plugins use (`metacrm_scheduled`,
at most once a minute per tenant): uploads nobody attached are pruned."""

from __future__ import annotations

from metacrm.platform.records.attachments import prune_unattached
from metacrm.plugins.hookspecs import hookimpl


@hookimpl
def metacrm_scheduled(runtime, state, now):
    prune_unattached(state, now)
