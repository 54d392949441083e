"""What listens to outbox events: handlers (plugins return them from
`metacrm_event_handlers`) and the run one handler gets for one event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EventHandler:
    """What plugins (the workflow engine among them) return from `metacrm_event_handlers`.

    `fn(run)` gets a HandlerRun; `wants(model, entity_name, topic)` says whether it
    would act on such an event, so the platform writes events only when someone listens.
    `batch(runs)`, if given, runs many events at once (a HandlerRun each, in outbox
    order) with the same effects as `fn` on each in turn; it is what makes a worker
    fast on a stream of similar events (one UPDATE for many records).
    """

    name: str
    fn: Callable[[HandlerRun], Any]
    wants: Callable[[Any, str | None, str], bool]
    # Long work (an import) runs outside the event's transaction, in transactions of its
    # own (run.conn is None); it must then be idempotent by its own records.
    own_transactions: bool = False
    batch: Callable[[list[HandlerRun]], Any] | None = None


@dataclass
class HandlerRun:
    """One handler running one event, inside the event's transaction."""

    state: Any
    conn: Any
    event: dict
    runtime: Any
    notes: list[str] = field(default_factory=list)
    services: list = field(default_factory=list)

    @property
    def follow_ups(self) -> list[str]:
        """Events this handler's writes produced: dispatched once the event's work committed."""
        return [e for s in self.services for e in s.pending_events]

    def service(self, user_id: int | None = None):
        """A record service acting as the system (attributed to `user_id`), one event deeper."""
        from metacrm.platform.access.context import Context
        from metacrm.platform.records.service import RecordService

        ctx = Context(
            tenant=self.state.name,
            user_id=user_id,
            username="system",
            is_admin=True,
            depth=self.event["depth"] + 1,
            system_writes=True,
        )
        service = RecordService(self.state, ctx, self.runtime.pm, self.runtime.registry)
        self.services.append(service)
        return service

    def note(self, text: str) -> None:
        self.notes.append(text)
