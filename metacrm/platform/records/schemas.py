"""marshmallow schemas built from entity metadata, and row serializers.

One schema per entity, built once per compiled model (cached in the tenant
state). Body keys are checked before marshmallow so errors can say *why* a key
is refused: unknown (with the known names), read-only, or a system column.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from metacrm.metadata.model import SYSTEM_COLUMNS, Entity, Field
from metacrm.platform.timestamps import rfc3339

MAX_ID = 2**63 - 1
PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]{3,38}[0-9]$")
UTC = dt.UTC


class DigitsLimit(validate.Validator):
    """Reject decimals that do not fit the column's precision and scale."""

    def __init__(self, precision: int, scale: int):
        self.limit = decimal.Decimal(10) ** (precision - scale)
        self.precision, self.scale = precision, scale

    def __call__(self, value):
        if value is not None and abs(value) >= self.limit:
            raise ValidationError(
                f"too large: at most {self.precision - self.scale} digits before the decimal point"
            )
        return value


class UtcDateTime(fields.AwareDateTime):
    """Aware datetimes, stored in UTC (SQLite keeps no offset, so convert before writing)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


def json_integer(value) -> int | None:
    """`value` as an int if JSON Schema counts it as an integer (7 or 7.0), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class JsonInteger(fields.Integer):
    """An integer as JSON Schema counts them: 7 and 7.0 (a number with no fraction) are
    both integers; "7", 7.5 and true are not."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


def _range(spec) -> list:
    if spec.min is None and spec.max is None:
        return []
    return [validate.Range(min=spec.min, max=spec.max)]


def marshmallow_field(f: Field) -> fields.Field:
    spec, t = f.spec, f.type
    # a field with an expression default gets its value after marshmallow, so it is not required here
    kw: dict[str, Any] = {
        "allow_none": not f.required,
        "required": f.required and not f.default_expression,
    }
    if t == "text":
        checks: list[validate.Validator] = [validate.Length(max=spec.max_length)]
        if spec.pattern:
            checks.append(
                validate.Regexp(spec.pattern, error=f"does not match the pattern {spec.pattern}")
            )
        return fields.String(validate=checks, **kw)
    if t == "long_text":
        return fields.String(
            validate=[validate.Length(max=spec.max_length)] if spec.max_length else [], **kw
        )
    if t == "integer":
        return JsonInteger(
            validate=_range(spec) + [validate.Range(min=-(2**63), max=2**63 - 1)], **kw
        )
    if t in ("decimal", "currency", "percent"):
        return fields.Decimal(
            places=spec.scale,
            rounding=decimal.ROUND_HALF_UP,
            allow_nan=False,
            validate=_range(spec) + [DigitsLimit(spec.precision, spec.scale)],
            **kw,
        )
    if t == "boolean":
        return fields.Boolean(truthy={True}, falsy={False}, **kw)
    if t == "date":
        return fields.Date(**kw)
    if t == "datetime":
        return UtcDateTime(default_timezone=UTC, **kw)
    if t == "email":
        return fields.Email(validate=[validate.Length(max=254)], **kw)
    if t == "url":
        return fields.Url(validate=[validate.Length(max=2048)], **kw)
    if t == "phone":
        return fields.String(
            validate=[
                validate.Regexp(PHONE, error="not a phone number (digits, spaces, + ( ) - . /)")
            ],
            **kw,
        )
    if t == "select":
        return fields.String(validate=[validate.OneOf(spec.values)], **kw)
    if t == "multi_select":
        checks = [validate.Length(max=spec.max_selected)] if spec.max_selected else []
        return fields.List(
            fields.String(validate=validate.OneOf(spec.values)), validate=checks, **kw
        )
    if t == "tags":
        return fields.List(
            fields.String(validate=validate.Length(min=1, max=50)),
            validate=validate.Length(max=100),
            **kw,
        )
    if t in ("reference", "user"):
        return JsonInteger(validate=validate.Range(min=1, max=MAX_ID), **kw)
    if t == "many_to_many":
        return fields.List(JsonInteger(validate=validate.Range(min=1, max=MAX_ID)), **kw)
    return fields.Raw(**kw)  # json, attachment


COMPUTED = ("formula", "rollup", "auto_number")  # never written by anyone


class RecordSchema:
    """Validation of write bodies for one entity."""

    def __init__(self, entity: Entity, include_read_only: bool = False):
        """`include_read_only`: the platform's own writes (automations) may set read_only
        fields; computed fields (formula, rollup, auto number) are never written."""
        self.entity = entity
        self.writable = {
            n: f
            for n, f in entity.fields.items()
            if f.writable or (include_read_only and f.read_only and f.type not in COMPUTED)
        }
        self.writable_keys = frozenset(self.writable)
        self.defaults = tuple(
            (n, f.default) for n, f in self.writable.items() if f.default is not None
        )
        self.references = tuple(
            (n, "_users" if f.type == "user" else f.spec.entity)
            for n, f in entity.fields.items()
            if f.type in ("reference", "many_to_many", "user")
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
                why = (
                    f"is a {f.type} field, computed"
                    if f.type in ("formula", "rollup", "auto_number")
                    else "is read-only"
                )
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


def _number(value: decimal.Decimal):
    # JSON numbers: integral values as int, others as float (15 significant digits are exact).
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def output_converter(f_type: str):
    if f_type in ("decimal", "currency", "percent", "rollup"):
        return lambda v: (
            None
            if v is None
            else _number(decimal.Decimal(v) if not isinstance(v, decimal.Decimal) else v)
        )
    if f_type == "date":
        return lambda v: None if v is None else (v.isoformat() if isinstance(v, dt.date) else v)
    if f_type == "datetime":
        return rfc3339
    return None


def row_serializer(entity: Entity, columns: list[str]):
    """A fast function row -> JSON-able dict for the selected columns."""
    names = tuple(columns)
    converters = []
    for name in columns:
        if name in ("created_at", "updated_at", "deleted_at"):
            conv = output_converter("datetime")
        elif name in entity.fields:
            f = entity.fields[name]
            conv = output_converter(f.spec.result_type if f.type == "formula" else f.type)
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
    t = f.type if f.type != "formula" else f.spec.result_type
    if t in ("integer", "reference", "user"):
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError("not an integer") from None
        if not -MAX_ID - 1 <= value <= MAX_ID:
            raise ValidationError("out of range (64-bit integers)")
        if t != "integer" and value < 1:
            raise ValidationError("not an id (ids start at 1)")
        return value
    if t in ("decimal", "currency", "percent"):
        try:
            number = decimal.Decimal(raw)
        except decimal.InvalidOperation:
            raise ValidationError("not a number") from None
        if not number.is_finite():
            raise ValidationError("not a number")
        return number
    if t == "boolean":
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise ValidationError("use true or false")
    if t == "date":
        return fields.Date().deserialize(raw)
    if t == "datetime":
        return UtcDateTime(default_timezone=UTC).deserialize(raw)
    if t in ("multi_select", "tags", "json", "attachment", "many_to_many"):
        raise ValidationError(f"a {t} field cannot be filtered with field=value")
    return raw
