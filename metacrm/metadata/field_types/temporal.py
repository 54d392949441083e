"""Dates and datetimes: ISO dates, and RFC 3339 instants in UTC."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from marshmallow import fields
from sqlalchemy import Date, DateTime

from metacrm.expressions import types as T
from metacrm.metadata.field_types.base import UTC, FieldType, UtcDateTime

TZ_DATETIME = DateTime(timezone=True)


@functools.lru_cache(maxsize=1024)
def _format(value: dt.datetime) -> str:
    if value.tzinfo is not None:  # SQLite hands back naive values, stored as UTC
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def rfc3339(value: dt.datetime | None) -> str | None:
    """`value` in UTC as RFC 3339 (cached: a bulk write stamps every row alike)."""
    return None if value is None else _format(value)


def _iso_date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


class DateType(FieldType):
    name = "date"
    value_type = T.DATE
    dated = ordered = True

    def column_type(self, field):
        return Date()

    def marshmallow_field(self, field, **kw):
        return fields.Date(**kw)

    def coerce(self, field, value):
        if isinstance(value, dt.datetime):
            return value.astimezone(UTC).date()
        return value

    def output(self, field):
        return _iso_date

    def json_schema(self, field):
        return {"type": "string", "format": "date"}

    def filter_schema(self, field):
        return {"type": "string", "format": "date"}

    def parse_query(self, field, raw):
        return fields.Date().deserialize(raw)

    def import_value(self, field, value, options):
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return super().import_value(field, value, options)


class DateTimeType(FieldType):
    name = "datetime"
    value_type = T.DATETIME
    dated = ordered = True

    def column_type(self, field):
        return TZ_DATETIME

    def marshmallow_field(self, field, **kw):
        return UtcDateTime(default_timezone=UTC, **kw)

    def coerce(self, field, value):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    def output(self, field):
        return rfc3339

    def json_schema(self, field):
        return {"type": "string", "format": "date-time"}

    def filter_schema(self, field):
        return {"type": "string", "format": "date-time"}

    def parse_query(self, field, raw):
        return UtcDateTime(default_timezone=UTC).deserialize(raw)

    def import_value(self, field, value, options):
        if isinstance(value, dt.date):
            return value.isoformat()
        return super().import_value(field, value, options)
