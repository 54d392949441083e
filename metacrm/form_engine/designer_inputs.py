"""What the designer's process editors (approvals, automations, pools) read the same
way: a label in en/zh-CN, a person spec (`role:sales_manager`, `user:ann`,
`manager:owner`, `field:reviewer`) and its choices, and `field = expression` lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from metacrm.form_engine import display
from metacrm.metadata.model import Entity
from metacrm.platform.api.common import service

PERSON_KINDS = ("user", "role", "manager", "field")


def label_from(form, en: str, zh: str, old: Any = None) -> dict[str, str] | None:
    """{"en", "zh-CN"} from two controls (other languages of `old` kept); None if no en."""
    label = dict(old) if isinstance(old, dict) else {}
    text = form.get(en, "").strip()
    if not text:
        return None
    label["en"] = text
    if form.get(zh, "").strip():
        label["zh-CN"] = form[zh].strip()
    else:
        label.pop("zh-CN", None)
    return label


def person(value: str) -> dict[str, str] | None:
    """`kind:name` -> {kind: name}; None for an empty or unknown choice."""
    kind, _sep, name = value.partition(":")
    return {kind: name} if kind in PERSON_KINDS and name else None


def person_value(spec: dict) -> str:
    [(kind, name)] = spec.items()
    return f"{kind}:{name}"


def people_choices(entity: Entity | None, managers: bool = True) -> list[tuple[str, list]]:
    """Who a step, an assignment or a pool may name, grouped: roles, managers, the
    record's user fields, active users."""
    state = service().state
    users = state.system["users"]
    with state.engine.connect() as conn:
        people = conn.execute(
            select(users.c.username, users.c.display_name)
            .where(users.c.is_active.is_(True))
            .order_by(users.c.username)
        ).all()
    groups: list[tuple[str, list]] = [
        (_("Roles"), [(f"role:{n}", display.label(r.label)) for n, r in state.model.roles.items()])
    ]
    if managers:
        groups.append(
            (
                _("Managers"),
                [
                    ("manager:owner", _("The record owner's manager")),
                    ("manager:submitter", _("The submitter's manager")),
                ],
            )
        )
    if entity is not None:
        fields = [
            (f"field:{n}", display.label(f.label))
            for n, f in entity.fields.items()
            if f.type == "user"
        ]
        if fields:
            groups.append((_("People named on the record"), fields))
    groups.append(
        (_("People"), [(f"user:{p.username}", p.display_name or p.username) for p in people])
    )
    return groups


def assignment_lines(text: str) -> Iterator[tuple[int, str, str | None, str]]:
    """Each non-blank line of a `field = expression` box: (its number, the line, the
    field, the expression as written); the field is None where the line is not one."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        field, sep, expression = line.partition("=")
        if not sep or not field.strip() or not expression.strip():
            yield number, line, None, ""
        else:
            yield number, line, field.strip(), expression


def assignments(form, key: str, errors: dict) -> dict[str, str]:
    """Lines `field = expression` of the control `key` (a line that is not, an error)."""
    values: dict[str, str] = {}
    for number, _line, field, expression in assignment_lines(form.get(key, "")):
        if field is None:
            errors.setdefault(key, []).append(_("Line %(n)s: write field = expression.", n=number))
            continue
        values[field] = expression.strip()
    return values


def assignments_text(values: dict | None) -> str:
    return "\n".join(f"{k} = {v}" for k, v in (values or {}).items())
