"""What a field type is: one object that says how a field of that type is declared,
stored, validated, documented, filtered, computed into, imported and exported.

The platform asks a field's type object instead of switching on type names, so a
plugin adds a type (`metacrm_field_types`) by subclassing the built-in it resembles
and overriding what differs. Methods take the compiled `Field`; a formula's values
behave as its result type (`Field.value_kind`), so those methods also see formulas,
whose spec is a `FormulaSpec`: read type-specific settings with `getattr`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from marshmallow import ValidationError, fields
from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from metacrm.metadata.model import PlainSpec

if TYPE_CHECKING:
    from metacrm.metadata.model import Field

UTC = dt.UTC
MAX_ID = 2**63 - 1
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL cannot store U+0000: refused
JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def fold_key(text: str) -> str:
    """`Account Name`, `account_name`, `ＡＣＣＯＵＮＴ-NAME` -> `accountname`: how column
    headers and option labels are matched."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


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


class UtcDateTime(fields.AwareDateTime):
    """Aware datetimes, stored in UTC (SQLite keeps no offset, so convert before writing)."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:00-05:00 is past the last moment in UTC
            raise ValidationError("is outside the years 1 to 9999 in UTC") from None


OPERATORS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull"})


class FieldType:
    """A field type. Subclass the built-in type closest to yours; instances are shared."""

    name: ClassVar[str] = ""
    # the expression language's type of its values (expressions.types), None: not usable
    value_type: ClassVar[str | None] = None
    # JSON Schema `properties` of the YAML keys this type adds to a field declaration,
    # and which of them are required (built-in types declare theirs in entity.json)
    options: ClassVar[Mapping[str, Any]] = {}
    required_options: ClassVar[tuple[str, ...]] = ()
    default_schema: ClassVar[Mapping[str, Any]] = {}  # what `default:` may be

    computed: ClassVar[bool] = False  # formula, rollup, auto number: never written
    sortable: ClassVar[bool] = True  # ?sort= and views
    filterable: ClassVar[bool] = True  # ?field=value
    operators: ClassVar[frozenset[str]] = OPERATORS  # ?field__op=value (eq is field=value)
    groupable: ClassVar[bool] = True  # aggregate group_by
    dated: ClassVar[bool] = False  # group_by takes a :bucket (day, week, ...)
    summable: ClassVar[bool] = False  # sum and avg; rollups may sum it
    ordered: ClassVar[bool] = False  # min and max
    unique_capable: ClassVar[bool] = True  # unique: and indexed: allowed
    searchable: ClassVar[bool] = False  # may be in search_fields
    is_list: ClassVar[bool] = False  # a list of values (a cell holds them separated by ;)
    match_as: ClassVar[str] = "name"  # how duplicate rules compare values: name, email, phone
    references: ClassVar[bool] = False  # values are record ids (reference, user, many-to-many)
    always_indexed: ClassVar[bool] = False  # indexed whether or not `indexed:` says so

    def spec(self, data: dict) -> Any:
        """The compiled settings of a declaration (`data` is schema-valid)."""
        return PlainSpec()

    def target(self, field: Field) -> str | None:
        """The entity whose record ids the values are (reference, many-to-many)."""
        return None

    def is_stored(self, field: Field) -> bool:
        """Whether the field has a column in its entity's table."""
        return True

    # --- storage and writes -------------------------------------------------------
    def column_type(self, field: Field) -> TypeEngine:
        return JSON_TYPE

    def marshmallow_field(self, field: Field, **kw) -> fields.Field:
        """How a write body's value is validated and converted; `kw` carries
        `required` and `allow_none`, which the caller decides."""
        return fields.Raw(**kw)

    def coerce(self, field: Field, value: Any) -> Any:
        """An expression's value (automation, default, formula) -> what the column
        holds; raise CoerceError (records.rules) when it cannot be."""
        return value

    # --- reads and the API document --------------------------------------------------
    def output(self, field: Field) -> Callable[[Any], Any] | None:
        """Converts a column value (not None) to JSON; None: it is JSON already."""
        return None

    def json_schema(self, field: Field) -> dict:
        """The JSON Schema of a value (null, title and readOnly are added by the caller)."""
        return {}

    def input_json_schema(self, field: Field) -> dict:
        """What a write accepts, when it is more than the answers hold (a decimal: a
        string or a JSON number)."""
        return self.json_schema(field)

    def filter_schema(self, field: Field) -> dict:
        """What `?field=value` accepts, as JSON Schema."""
        return {"type": "string", "minLength": 1, "pattern": NO_NUL}

    def parse_query(self, field: Field, raw: str) -> Any:
        """A query-string value -> a value to compare with the column (ValidationError)."""
        if not self.filterable:
            raise ValidationError(f"a {self.name} field cannot be filtered with field=value")
        return raw

    # --- files -------------------------------------------------------------------------
    def import_value(self, field: Field, value: Any, options: Mapping[str, str] | None) -> Any:
        """A spreadsheet cell (not empty; text is stripped) -> what the API accepts.
        `options` folds option labels to values (select types). A value that does not
        fit is returned as it is: the write's validation names the problem."""
        if isinstance(value, decimal.Decimal | float | int):
            return str(value)
        return value if isinstance(value, str) else str(value)

    def export_value(self, field: Field, value: Any) -> Any:
        """An API value (not None) -> the cell an export writes; import reads it back."""
        return value

    def __repr__(self) -> str:
        return f"<field type {self.name}>"


class CoerceError(ValueError):
    """An expression's value that the field cannot hold (too long, not an option...)."""
