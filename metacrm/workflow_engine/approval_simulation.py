"""Approval simulation for the designer (`app.extensions["metacrm_simulate_approval"]`):
which steps a flow, saved or still a draft, would run for a record (or for values
typed in), and who would approve; read-only, decided the way a real submit decides."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from metacrm.metadata.model import ApprovalFlow, Entity, label_text
from metacrm.platform.api.common import service
from metacrm.platform.records.rules import coerce
from metacrm.workflow_engine.approval_steps import ApprovalSteps

NUMBERS = ("integer", "decimal", "currency", "percent")


def typed_value(f, text: str) -> Any:
    """Text typed for a field -> what its column holds (ValueError when it cannot)."""
    if text == "":
        return None
    if f.type in NUMBERS:
        try:
            return coerce(f, Decimal(text))
        except InvalidOperation as exc:
            raise ValueError(f"'{text}' is not a number") from exc
    if f.type == "boolean":
        return text in ("true", "yes", "1")
    return coerce(f, text)


def simulate_approval(flow: ApprovalFlow, record_id: int | None, typed: dict[str, str]) -> dict:
    """{"enters", "entry_message", "steps": [{name, label, applies, mode, approvers,
    escalate_to, timeout_hours}], "errors": {field: message}} for the signed-in user."""
    svc = service()
    entity: Entity = svc.entity(flow.entity)
    engine = ApprovalSteps(svc)
    errors: dict[str, str] = {}
    with svc.state.write.connect() as conn:  # never committed: nothing is written
        raw = dict(svc.writable_row(conn, entity, record_id)) if record_id else {}
        raw.setdefault("owner_id", svc.context.user_id)
        for name, text in typed.items():
            f = entity.fields.get(name)
            if f is None:
                continue
            try:
                raw[name] = typed_value(f, text.strip())
            except (ValueError, TypeError) as exc:
                errors[name] = str(exc)
        if errors:
            return {"errors": errors, "steps": [], "enters": False}
        result = engine.simulate(conn, flow, entity, raw)
        ids = {u for s in result["steps"] for u in (*s["approvers"], *s["escalate_to"])}
        users = svc.state.system["users"]
        names = {
            r.id: r.display_name or r.username
            for r in conn.execute(
                select(users.c.id, users.c.username, users.c.display_name).where(
                    users.c.id.in_(ids)
                )
            )
        }
    message = label_text(flow.entry_message, svc.context.locale) if flow.entry_message else None
    return {
        "enters": result["enters"],
        "entry_message": message,
        "errors": {},
        "steps": [
            {
                "name": s["step"].name,
                "label": s["step"].label,
                "applies": s["applies"],
                "mode": s["step"].mode,
                "timeout_hours": s["step"].timeout_hours,
                "approvers": [names.get(u, str(u)) for u in s["approvers"]],
                "escalate_to": [names.get(u, str(u)) for u in s["escalate_to"]],
            }
            for s in result["steps"]
        ],
    }
