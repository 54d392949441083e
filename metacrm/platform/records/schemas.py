"""marshmallow schemas built from entity metadata, and row serializers.

One schema per entity, built once per compiled model (cached in the tenant
state). Body keys are checked before marshmallow so errors can say *why* a key
is refused: unknown (with the known names), read-only, or a system column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields

from metacrm.metadata.field_types import JsonInteger, json_integer
from metacrm.metadata.model import SYSTEM_COLUMNS, Entity, Field
from metacrm.platform.timestamps import rfc3339

__all__ = ["JsonInteger", "RecordSchema", "json_integer", "marshmallow_field", "row_serializer"]


def marshmallow_field(f: Field) -> fields.Field:
    """The field's type decides the validation; the field whether it may be empty."""
    # a field with an expression default gets its value after marshmallow, so it is not required here
    return f.kind.marshmallow_field(
        f, allow_none=not f.required, required=f.required and not f.default_expression
    )


class RecordSchema:
    """Validation of write bodies for one entity."""

    def __init__(self, entity: Entity, include_read_only: bool = False):
        """`include_read_only`: the platform's own writes (automations) may set read_only
        fields; computed fields (formula, rollup, auto number) are never written."""
        self.entity = entity
        self.writable = {
            n: f
            for n, f in entity.fields.items()
            if f.writable or (include_read_only and f.read_only and not f.kind.computed)
        }
        self.writable_keys = frozenset(self.writable)
        self.defaults = tuple(
            (n, f.default) for n, f in self.writable.items() if f.default is not None
        )
        self.references = tuple(
            (n, f.kind.target(f) or "_users")  # a user field refers to the users
            for n, f in entity.fields.items()
            if f.kind.references
        )
        self.schema: Schema = Schema.from_dict(
            {n: marshmallow_field(f) for n, f in self.writable.items()},
            name=f"{entity.name}_record",
        )()
        self._fields = dict(self.schema.load_fields)
        self._required = tuple(n for n, f in self._fields.items() if f.required)
        self._order = {n: i for i, n in enumerate(self._fields)}

    def key_errors(
        self, body: dict, allowed_system: tuple[str, ...] = (), hidden: frozenset = frozenset()
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key in body:
            if key in hidden:
                errors[key] = [f"unknown field of '{self.entity.name}'"]
                continue
            if key in self.writable or key in allowed_system:
                continue
            if key in SYSTEM_COLUMNS:
                errors[key] = ["is a system field and cannot be written"]
            elif key in self.entity.fields:
                f = self.entity.fields[key]
                why = f"is a {f.type} field, computed" if f.kind.computed else "is read-only"
                errors[key] = [why]
            else:
                errors[key] = [f"unknown field of '{self.entity.name}'"]
        return errors

    def load(self, body: dict, partial: bool) -> dict:
        """Validate one body field by field with the marshmallow fields of `self.schema`.

        Same result and messages as `self.schema.load` (a property test compares them),
        without Schema.load's per-record container work, which cost 40% of a bulk
        import. Bodies reach here as dicts of known keys (see RecordService._prepare_body).
        """
        out: dict = {}
        errors: dict[str, Any] = {}
        by_name = self._fields
        for name, value in body.items():
            f = by_name.get(name)
            if f is None:
                errors[name] = ["Unknown field."]
                continue
            try:
                out[name] = f.deserialize(value, name, body)
            except ValidationError as exc:
                errors[name] = exc.messages
        if not partial:
            for name in self._required:
                if name not in body:
                    errors[name] = [self._fields[name].error_messages["required"]]
        if errors:
            order = self._order
            errors = dict(sorted(errors.items(), key=lambda kv: order.get(kv[0], len(order))))
            raise ValidationError(errors, data=body, valid_data=out)
        return out

    def load_many(self, bodies: list[dict]) -> tuple[list[dict], dict[int, Any]]:
        """Each body loaded, or the errors by index (then no data: a batch is all or nothing)."""
        loaded: list[dict] = []
        errors: dict[int, Any] = {}
        for i, body in enumerate(bodies):
            try:
                loaded.append(self.load(body, partial=False))
            except ValidationError as exc:
                errors[i] = exc.messages
        return ([] if errors else loaded), errors


def row_serializer(entity: Entity, columns: list[str]):
    """A fast function row -> JSON-able dict for the selected columns."""
    names = tuple(columns)
    converters = []
    for name in columns:
        conv: Callable[[Any], Any] | None
        if name in ("created_at", "updated_at", "deleted_at"):
            conv = rfc3339
        elif name in entity.fields:
            f = entity.fields[name]
            conv = f.value_kind.output(f)
        else:
            conv = None
        if conv is not None:
            converters.append((name, conv))

    def serialize(row) -> dict:
        out = dict(zip(names, row, strict=False))
        for name, conv in converters:
            value = out[name]
            if value is not None:
                out[name] = conv(value)
        return out

    return serialize


def parse_value(f: Field, raw: str):
    """A query-string value -> the field's Python type (raises ValidationError)."""
    return f.value_kind.parse_query(f, raw)
