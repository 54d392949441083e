"""Numbers and yes/no: integer, decimal, currency, percent, boolean."""

from __future__ import annotations

import decimal
import re

from marshmallow import ValidationError, fields, validate
from sqlalchemy import BigInteger, Boolean, Numeric

from metacrm.expressions import types as T
from metacrm.metadata import model as m
from metacrm.metadata.field_types.base import MAX_ID, CoerceError, FieldType, JsonInteger

TRUTHY = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


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


def _range(spec) -> list:
    low, high = getattr(spec, "min", None), getattr(spec, "max", None)
    if low is None and high is None:
        return []
    return [validate.Range(min=low, max=high)]


DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
DECIMAL_TEXT = re.compile(DECIMAL_PATTERN)


def decimal_text(value, scale: int) -> str:
    """A decimal as the API writes it: a string to the field's scale (`"1200.50"`), so no
    client reads money through a binary float."""
    number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    exponent = decimal.Decimal(1).scaleb(-scale)
    return format(number.quantize(exponent, rounding=decimal.ROUND_HALF_UP), "f")


def decimal_output(scale: int):
    return lambda value: decimal_text(value, scale)


def decimal_schema(scale: int) -> dict:
    """A decimal in an answer: a string with `scale` places."""
    return {
        "type": "string",
        "format": "decimal",
        "pattern": DECIMAL_PATTERN,
        "description": f"a decimal number as a string, {scale} places",
    }


class DecimalValue(fields.Decimal):
    """A JSON number, or a string of digits with an optional point (`"1200.50"`): the one
    form the API document states, so `1e3` or `" 5"` are refused rather than guessed."""

    default_error_messages = {  # noqa: RUF012 - marshmallow merges class attributes
        "invalid": "not a decimal number: digits with an optional point, like 1200.50"
    }

    def _validated(self, value):
        if isinstance(value, str) and not DECIMAL_TEXT.fullmatch(value):
            raise self.make_error("invalid")
        return super()._validated(value)


def parse_integer(raw: str, low: int = -MAX_ID - 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError("not an integer") from None
    if not -MAX_ID - 1 <= value <= MAX_ID:
        raise ValidationError("out of range (64-bit integers)")
    if value < low:
        raise ValidationError("not an id (ids start at 1)")
    return value


def integer_cell(value):
    """A cell -> an int when it is one (`7`, `7.0`), else the text (a name, or a bad number)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return value if isinstance(value, str) else str(value)


def _bounds(field, s: dict) -> dict:
    low, high = getattr(field.spec, "min", None), getattr(field.spec, "max", None)
    if low is not None:
        s["minimum"] = low
    if high is not None:
        s["maximum"] = high
    return s


class IntegerType(FieldType):
    name = "integer"
    value_type = T.INTEGER
    summable = ordered = True

    def spec(self, data):
        return m.IntegerSpec(min=data.get("min"), max=data.get("max"))

    def column_type(self, field):
        return BigInteger()

    def marshmallow_field(self, field, **kw):
        column = validate.Range(min=-(2**63), max=MAX_ID)
        return JsonInteger(validate=_range(field.spec) + [column], **kw)

    def coerce(self, field, value):
        return int(decimal.Decimal(value).to_integral_value(rounding=decimal.ROUND_HALF_UP))

    def json_schema(self, field):
        s = _bounds(field, {"type": "integer"})
        s.setdefault("minimum", -(2**63))  # the column's range, as the server enforces it
        s.setdefault("maximum", MAX_ID)
        return s

    def filter_schema(self, field):
        return {"type": "integer", "minimum": -(2**63), "maximum": MAX_ID}

    def parse_query(self, field, raw):
        return parse_integer(raw)

    def import_value(self, field, value, options):
        return integer_cell(value)


class DecimalType(FieldType):
    """Fixed-point numbers: `precision` digits, `scale` of them after the point."""

    name = "decimal"
    value_type = T.DECIMAL
    summable = ordered = True
    default_scale = 2

    def spec(self, data):
        return m.DecimalSpec(
            precision=data.get("precision", 18),
            scale=data.get("scale", self.default_scale),
            min=data.get("min"),
            max=data.get("max"),
            currency=data.get("currency"),
        )

    def column_type(self, field):
        scale = getattr(field.spec, "scale", None)
        precision = getattr(field.spec, "precision", 18)
        return Numeric(precision, 4 if scale is None else scale, asdecimal=True)

    def marshmallow_field(self, field, **kw):
        spec = field.spec
        return DecimalValue(
            places=spec.scale,
            rounding=decimal.ROUND_HALF_UP,
            allow_nan=False,
            validate=_range(spec) + [DigitsLimit(spec.precision, spec.scale)],
            **kw,
        )

    def coerce(self, field, value):
        result = decimal.Decimal(value).quantize(
            decimal.Decimal(1).scaleb(-self.scale(field)), rounding=decimal.ROUND_HALF_UP
        )
        precision = getattr(field.spec, "precision", 18)
        # the bound of the column (column_type keeps 4 decimals when none is declared)
        declared = getattr(field.spec, "scale", None)
        digits = precision - (4 if declared is None else declared)
        if abs(result) >= decimal.Decimal(10) ** digits:
            raise CoerceError(
                f"the computed value {result} does not fit ({digits} digits before the point)"
            )
        return result

    def scale(self, field) -> int:
        """Places of its values: declared, else 2 (a formula without `scale`)."""
        declared = getattr(field.spec, "scale", None)
        return 2 if declared is None else declared

    def output(self, field):
        return decimal_output(self.scale(field))

    def json_schema(self, field):
        return decimal_schema(self.scale(field))

    def input_json_schema(self, field):
        """A string with up to `scale` places (more are rounded), or a JSON number; the
        bounds are the column's digits and the field's min/max (which JSON Schema can state
        for numbers only: a string out of range is a 422 naming the field)."""
        spec = field.spec
        s = _bounds(field, {"type": ["string", "number"], "format": "decimal"})
        if isinstance(spec, m.DecimalSpec):
            before = spec.precision - spec.scale
            s["pattern"] = f"^-?[0-9]{{1,{before}}}(\\.[0-9]+)?$"  # more places are rounded
            bound = 10**before
            if "maximum" not in s:
                s["exclusiveMaximum"] = bound
            if "minimum" not in s:
                s["exclusiveMinimum"] = -bound
        s["description"] = 'a decimal number: a string ("12.50") or a JSON number'
        return s

    def filter_schema(self, field):
        """As the answers hold it (a generated client passes `amount__gte="1000.00"`
        as text, never through a float)."""
        return {
            "type": "string",
            "format": "decimal",
            "pattern": DECIMAL_PATTERN,
            "description": "a decimal number, like 1200.50",
        }

    def import_value(self, field, value, options):
        """A number cell in the plain form writes take (`str(1e-05)` would be `1e-05`)."""
        if isinstance(value, decimal.Decimal | float | int) and not isinstance(value, bool):
            return format(decimal.Decimal(str(value)), "f")
        return value if isinstance(value, str) else str(value)

    def export_value(self, field, value):
        """The API's decimal string -> a number cell (a spreadsheet sums it)."""
        return decimal.Decimal(value)

    def parse_query(self, field, raw):
        """The one form the document states, as for writes (`1e3`, ` 5`, `NaN` refused)."""
        if not DECIMAL_TEXT.fullmatch(raw):
            raise ValidationError("not a decimal number: digits with an optional point")
        return decimal.Decimal(raw)


class CurrencyType(DecimalType):
    name = "currency"


class PercentType(DecimalType):
    name = "percent"
    default_scale = 4


class BooleanType(FieldType):
    name = "boolean"
    value_type = T.BOOLEAN
    operators = frozenset({"eq", "ne", "in", "isnull"})  # true is not "greater" than false

    def column_type(self, field):
        return Boolean()

    def marshmallow_field(self, field, **kw):
        return fields.Boolean(truthy={True}, falsy={False}, **kw)

    def json_schema(self, field):
        return {"type": "boolean"}

    def filter_schema(self, field):
        return {"type": "boolean"}

    def parse_query(self, field, raw):
        value = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
        if value is None:
            raise ValidationError("use true or false")
        return value

    def import_value(self, field, value, options):
        if isinstance(value, bool):
            return value
        return TRUTHY.get(str(value).lower(), value)


def summary_scale(field, function: str) -> int | None:
    """Places of a count/sum/avg/min/max over a number field, as rollups and aggregates
    answer it: 0 (an integer) for sums and extremes of integers, the field's own for
    decimals, at least 2 for an average. None: not a number field."""
    kind = field.value_kind
    if kind.value_type == T.INTEGER:
        scale = 0
    elif kind.value_type == T.DECIMAL:  # a plugin's decimal type: two places
        scale = kind.scale(field) if isinstance(kind, DecimalType) else 2
    else:
        return None
    return max(scale, 2) if function == "avg" else scale
