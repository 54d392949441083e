"""Expression scopes over the compiled model: what a field path means to the checker."""

from __future__ import annotations

from metacrm.expressions import types as T
from metacrm.metadata.model import Entity, Field, Model

MAX_HOPS = 3
SYSTEM_TYPES = {
    "id": T.INTEGER,
    "owner_id": T.INTEGER,
    "created_by": T.INTEGER,
    "updated_by": T.INTEGER,
    "version": T.INTEGER,
    "created_at": T.DATETIME,
    "updated_at": T.DATETIME,
}


def field_expression_type(f: Field) -> str | None:
    """The expression type of the field's values (a formula's: its result type's)."""
    return f.value_kind.value_type


class EntityScope:
    """Resolves `amount`, `account.industry`, `account.parent.name` from an entity."""

    def __init__(self, model: Model, entity: str):
        self.model = model
        self.entity = entity

    def walk(self, path: tuple[str, ...]) -> list[tuple[Entity, Field | None, str]]:
        """(entity, field, name) per segment; raises KeyError with a message."""
        if len(path) - 1 > MAX_HOPS:
            raise KeyError(f"'{'.'.join(path)}' goes through more than {MAX_HOPS} references")
        entity = self.model.entities[self.entity]
        steps: list[tuple[Entity, Field | None, str]] = []
        for i, name in enumerate(path):
            last = i == len(path) - 1
            f = entity.fields.get(name)
            if f is None and name in SYSTEM_TYPES and last:
                steps.append((entity, None, name))
                break
            if f is None:
                where = "" if i == 0 else f" of '{entity.name}' (in '{'.'.join(path)}')"
                raise KeyError(f"unknown field '{name}'{where}")
            if not last:
                if f.type != "reference":
                    raise KeyError(
                        f"'{name}' is a {f.type} field, not a reference: '{'.'.join(path)}' cannot go through it"
                    )
                steps.append((entity, f, name))
                entity = self.model.entities[f.spec.entity]
            else:
                steps.append((entity, f, name))
        return steps

    def resolve(self, path: tuple[str, ...]) -> str:
        entity, f, name = self.walk(path)[-1]
        if f is None:
            return SYSTEM_TYPES[name]
        result = field_expression_type(f)
        if result is None:
            raise KeyError(f"'{name}' is a {f.type} field and cannot be used in expressions")
        return result
