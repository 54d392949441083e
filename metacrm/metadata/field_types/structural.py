"""Types whose values point elsewhere or are computed: reference, user, many-to-many,
formula, rollup, attachment, json."""

from __future__ import annotations

import decimal

from marshmallow import ValidationError, fields, validate
from sqlalchemy import BigInteger

from metacrm.expressions import types as T
from metacrm.metadata import model as m
from metacrm.metadata.field_types.base import MAX_ID, FieldType, JsonInteger, json_integer
from metacrm.metadata.field_types.numbers import (
    decimal_output,
    decimal_schema,
    integer_cell,
    parse_integer,
)
from metacrm.metadata.field_types.text import split_cell

ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class UserType(FieldType):
    """A user's id: owners, assignees, approvers."""

    name = "user"
    value_type = T.INTEGER
    references = True
    always_indexed = True  # joins, on_delete and record scopes read it

    def column_type(self, field):
        return BigInteger()

    def marshmallow_field(self, field, **kw):
        return JsonInteger(validate=validate.Range(min=1, max=MAX_ID), **kw)

    def json_schema(self, field):
        return dict(ID_SCHEMA)

    def filter_schema(self, field):
        return dict(ID_SCHEMA)

    def parse_query(self, field, raw):
        return parse_integer(raw, low=1)

    def import_value(self, field, value, options):
        return integer_cell(value)  # a name stays text: resolved per batch


class ReferenceType(UserType):
    """A record of another entity (`entity:`), by id; cells may name it by title."""

    name = "reference"

    def spec(self, data):
        return m.ReferenceSpec(entity=data["entity"], on_delete=data.get("on_delete", "restrict"))

    def target(self, field):
        return field.spec.entity


class ManyToManyType(FieldType):
    """Records of another entity, kept in a link table."""

    name = "many_to_many"
    sortable = filterable = groupable = unique_capable = False
    is_list = references = True

    def spec(self, data):
        return m.ManyToManySpec(entity=data["entity"])

    def target(self, field):
        return field.spec.entity

    def is_stored(self, field):
        return False

    def marshmallow_field(self, field, **kw):
        return fields.List(JsonInteger(validate=validate.Range(min=1, max=MAX_ID)), **kw)

    def json_schema(self, field):
        return {"type": "array", "items": dict(ID_SCHEMA)}

    def import_value(self, field, value, options):
        return [int(p) if p.isdigit() else p for p in split_cell(value)]


class FormulaType(FieldType):
    """An expression over the record; its values behave as `result_type`
    (`Field.value_kind`), stored in a column when `stored: true`."""

    name = "formula"
    computed = True
    unique_capable = False

    def spec(self, data):
        return m.FormulaSpec(
            expression=data["expression"],
            result_type=data["result_type"],
            stored=data.get("stored", False),
            scale=data.get("scale"),
        )

    def is_stored(self, field):
        return bool(field.spec.stored)


class RollupType(FieldType):
    """count/sum/avg/min/max of related records, computed when read."""

    name = "rollup"
    value_type = T.DECIMAL
    computed = True
    sortable = filterable = groupable = unique_capable = False

    def spec(self, data):
        return m.RollupSpec(
            entity=data["entity"],
            via=data["via"],
            function=data["function"],
            field=data.get("field"),
            filter=data.get("filter"),
            scale=data.get("scale"),
        )

    def is_stored(self, field):
        return False

    def output(self, field):
        """A count is an integer; a sum of integers too; other values are decimal strings."""
        scale = field.spec.scale
        return int if not scale else decimal_output(scale)

    def json_schema(self, field):
        scale = field.spec.scale
        return {"type": "integer"} if not scale else decimal_schema(scale)

    def export_value(self, field, value):
        return decimal.Decimal(value) if isinstance(value, str) else value

    def filter_schema(self, field):
        return {"type": "number"}


def file_schema() -> dict:
    """A file as attachment fields hold it (a fresh dict: callers add `null` to types)."""
    return {
        "type": "object",
        "properties": {
            "id": dict(ID_SCHEMA),
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "content_type": {"type": "string"},
        },
        "required": ["id"],
    }


FILE_HINT = "give ids of uploaded files (POST /api/v1/files), or the file objects a read returns"


class FileIds(fields.Field):
    """What a write may say an attachment holds: a file id, a file object as a read
    returns it ({"id": .., "name": ..}), or a list of those -> a list of ids. The record
    service turns them into descriptors once it has checked each file (records.attachments)."""

    def __init__(self, multiple: bool, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        if not self.multiple and len(items) > 1:
            raise ValidationError("holds one file; send one id")
        ids: list[int] = []
        for item in items:
            number = json_integer(item.get("id") if isinstance(item, dict) else item)
            if number is None or not 1 <= number <= MAX_ID:
                raise ValidationError(FILE_HINT)
            if number not in ids:
                ids.append(number)
        return ids


class AttachmentType(FieldType):
    """Files: the column holds descriptors ({id, name, size, content_type}); the bytes
    are in the tenant's `_files` table, readable through GET /api/v1/files/{id}."""

    name = "attachment"
    sortable = filterable = groupable = unique_capable = False

    def spec(self, data):
        return m.AttachmentSpec(
            multiple=data.get("multiple", False),
            max_size_mb=data.get("max_size_mb", 25),
            accept=tuple(data.get("accept", ())),
        )

    def marshmallow_field(self, field, **kw):
        return FileIds(field.spec.multiple, **kw)

    def json_schema(self, field):
        if field.spec.multiple:
            return {"type": "array", "items": file_schema()}
        return file_schema()

    def export_value(self, field, value):
        files = value if isinstance(value, list) else [value]
        return "; ".join(str(f.get("name", f.get("id"))) for f in files if isinstance(f, dict))


class JsonType(FieldType):
    """Any JSON value, for integrations; not filtered, sorted or grouped."""

    name = "json"
    sortable = filterable = groupable = unique_capable = False
