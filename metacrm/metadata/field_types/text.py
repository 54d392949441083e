"""Text-like types: text, long text, email, phone, url, select, multi-select, tags,
auto number."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import String, Text

from metacrm.expressions import types as T
from metacrm.metadata import model as m
from metacrm.metadata.field_types.base import NO_NUL, CoerceError, FieldType, fold_key

PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]{3,38}[0-9]$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# what the server takes: an absolute web or FTP address with a dotted host name
URL_PATTERN = (
    rf"^(https?|ftps?)://{_LABEL}(\.{_LABEL})*\.[A-Za-z]{{2,}}(:[1-9][0-9]{{0,3}})?"
    r"(/[A-Za-z0-9._~/-]*)?$"
)


def split_cell(value: Any) -> list[str]:
    """A list cell (`a; b; c`) -> its items."""
    return [p.strip() for p in str(value).split(";") if p.strip()]


class TextType(FieldType):
    """One line of text; also the base of the other text-like types."""

    name = "text"
    value_type = T.TEXT
    searchable = True

    def spec(self, data):
        return m.TextSpec(max_length=data.get("max_length", 255), pattern=data.get("pattern"))

    def column_type(self, field):
        return String(getattr(field.spec, "max_length", 255))

    def marshmallow_field(self, field, **kw):
        spec = field.spec
        checks: list[validate.Validator] = [validate.Length(max=spec.max_length)]
        if spec.pattern:
            checks.append(
                validate.Regexp(spec.pattern, error=f"does not match the pattern {spec.pattern}")
            )
        return fields.String(validate=checks, **kw)

    def coerce(self, field, value):
        text = str(value)
        max_length = getattr(field.spec, "max_length", None)
        if max_length and len(text) > max_length:
            raise CoerceError(f"the computed text is longer than {max_length} characters")
        return text

    def json_schema(self, field):
        s: dict = {"type": "string"}
        max_length = getattr(field.spec, "max_length", None)
        if max_length:
            s["maxLength"] = max_length
        s["pattern"] = getattr(field.spec, "pattern", None) or NO_NUL
        return s


class LongTextType(TextType):
    name = "long_text"
    groupable = unique_capable = False

    def spec(self, data):
        return m.LongTextSpec(max_length=data.get("max_length"))

    def column_type(self, field):
        return Text()

    def marshmallow_field(self, field, **kw):
        limit = field.spec.max_length
        return fields.String(validate=[validate.Length(max=limit)] if limit else [], **kw)


class EmailType(TextType):
    name = "email"
    match_as = "email"

    def spec(self, data):
        return m.PlainSpec()

    def column_type(self, field):
        return String(254)

    def marshmallow_field(self, field, **kw):
        return fields.Email(validate=[validate.Length(max=254)], **kw)

    def json_schema(self, field):
        return {"type": "string", "format": "email", "maxLength": 254}


class PhoneType(TextType):
    name = "phone"
    match_as = "phone"

    def spec(self, data):
        return m.PlainSpec()

    def column_type(self, field):
        return String(40)

    def marshmallow_field(self, field, **kw):
        error = "not a phone number (digits, spaces, + ( ) - . /)"
        return fields.String(validate=[validate.Regexp(PHONE, error=error)], **kw)

    def json_schema(self, field):
        return {"type": "string", "maxLength": 40, "pattern": PHONE.pattern}


class UrlType(TextType):
    name = "url"

    def spec(self, data):
        return m.PlainSpec()

    def column_type(self, field):
        return String(2048)

    def marshmallow_field(self, field, **kw):
        return fields.Url(validate=[validate.Length(max=2048)], **kw)

    def json_schema(self, field):
        return {"type": "string", "format": "uri", "maxLength": 2048, "pattern": URL_PATTERN}


def _select_spec(data: dict) -> m.SelectSpec:
    return m.SelectSpec(
        options=_options(data.get("options", [])), max_selected=data.get("max_selected")
    )


def _options(raw: list) -> tuple[m.Option, ...]:
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(m.Option(item, m.label_of(None, item)))
        else:
            label = m.label_of(item.get("label"), item["value"])
            out.append(m.Option(item["value"], label, item.get("color"), item.get("active", True)))
    return tuple(out)


class SelectType(TextType):
    """One of a list of options; cells and lookups may name an option by its label."""

    name = "select"

    def spec(self, data):
        return _select_spec(data)

    def column_type(self, field):
        return String(100)

    def marshmallow_field(self, field, **kw):
        return fields.String(validate=[validate.OneOf(field.spec.values)], **kw)

    def coerce(self, field, value):
        text = super().coerce(field, value)
        if text not in field.spec.values:
            raise CoerceError(f"the computed value {text!r} is not one of the options")
        return text

    def json_schema(self, field):
        return {"type": "string", "enum": list(field.spec.values)}

    def filter_schema(self, field):
        # a value taken out of the list still matches the records that keep it
        return {
            "type": "string",
            "minLength": 1,
            "pattern": NO_NUL,
            "examples": list(field.spec.values),
        }

    def import_value(self, field, value, options):
        if options is not None and isinstance(value, str):
            return options.get(fold_key(value), value)  # unknown: validation names the options
        return super().import_value(field, value, options)


class TagsType(FieldType):
    """Free words; a cell holds them separated by `;`."""

    name = "tags"
    value_type = T.LIST
    sortable = filterable = groupable = unique_capable = False
    is_list = True

    def marshmallow_field(self, field, **kw):
        return fields.List(
            fields.String(validate=validate.Length(min=1, max=50)),
            validate=validate.Length(max=100),
            **kw,
        )

    def json_schema(self, field):
        return {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 50},
            "maxItems": 100,
        }

    def import_value(self, field, value, options):
        return split_cell(value)


class MultiSelectType(TagsType):
    name = "multi_select"

    def spec(self, data):
        return _select_spec(data)

    def marshmallow_field(self, field, **kw):
        spec = field.spec
        checks = [validate.Length(max=spec.max_selected)] if spec.max_selected else []
        return fields.List(
            fields.String(validate=validate.OneOf(spec.values)), validate=checks, **kw
        )

    def json_schema(self, field):
        spec = field.spec
        s: dict = {"type": "array", "items": {"type": "string", "enum": list(spec.values)}}
        if spec.max_selected:
            s["maxItems"] = spec.max_selected
        return s

    def import_value(self, field, value, options):
        parts = split_cell(value)
        return [options.get(fold_key(p), p) for p in parts] if options is not None else parts


class AutoNumberType(TextType):
    """`QT-{YYYY}-{seq:05}`: numbered by the platform when a record is created."""

    name = "auto_number"
    computed = True

    def spec(self, data):
        return m.AutoNumberSpec(pattern=data["pattern"])

    def column_type(self, field):
        return String(64)

    def json_schema(self, field):
        return {"type": "string", "maxLength": 64, "pattern": NO_NUL}
