"""The field-type registry: every type a field may be declared with, built-in or
added by a plugin (`metacrm_field_types`), each one object (see base.FieldType).

The compiler resolves each declared field to its type object (`Field.kind`), so
the platform asks `field.kind` / `field.value_kind` what to do instead of
switching on type names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping

from metacrm.metadata.field_types.base import (
    MAX_ID,
    NO_NUL,
    CoerceError,
    FieldType,
    JsonInteger,
    UtcDateTime,
    fold_key,
    json_integer,
)
from metacrm.metadata.field_types.numbers import (
    BooleanType,
    CurrencyType,
    DecimalType,
    IntegerType,
    PercentType,
)
from metacrm.metadata.field_types.structural import (
    AttachmentType,
    FormulaType,
    JsonType,
    ManyToManyType,
    ReferenceType,
    RollupType,
    UserType,
)
from metacrm.metadata.field_types.temporal import DateTimeType, DateType, rfc3339
from metacrm.metadata.field_types.text import (
    PHONE,
    AutoNumberType,
    EmailType,
    LongTextType,
    MultiSelectType,
    PhoneType,
    SelectType,
    TagsType,
    TextType,
    UrlType,
)

__all__ = [  # the built-in types' classes too: a plugin's type subclasses the closest one
    "MAX_ID",
    "NO_NUL",
    "PHONE",
    "AttachmentType",
    "AutoNumberType",
    "BooleanType",
    "CoerceError",
    "CurrencyType",
    "DateTimeType",
    "DateType",
    "DecimalType",
    "EmailType",
    "FieldType",
    "FieldTypes",
    "FormulaType",
    "IntegerType",
    "JsonInteger",
    "JsonType",
    "LongTextType",
    "ManyToManyType",
    "MultiSelectType",
    "PercentType",
    "PhoneType",
    "ReferenceType",
    "RollupType",
    "SelectType",
    "TagsType",
    "TextType",
    "UrlType",
    "UserType",
    "UtcDateTime",
    "builtin_field_types",
    "fold_key",
    "json_integer",
    "rfc3339",
]

BUILTIN_TYPES = (
    TextType,
    LongTextType,
    IntegerType,
    DecimalType,
    CurrencyType,
    PercentType,
    BooleanType,
    DateType,
    DateTimeType,
    EmailType,
    PhoneType,
    UrlType,
    SelectType,
    MultiSelectType,
    ReferenceType,
    ManyToManyType,
    UserType,
    FormulaType,
    RollupType,
    AutoNumberType,
    AttachmentType,
    JsonType,
    TagsType,
)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class FieldTypes(Mapping[str, FieldType]):
    """Field types by name: the built-ins, then those plugins add (immutable)."""

    def __init__(self, types: Iterable[FieldType], builtin: frozenset[str] = frozenset()):
        self._types: dict[str, FieldType] = {}
        for t in types:
            if not isinstance(t, FieldType):
                raise TypeError(f"{t!r} is not a FieldType")
            if not NAME.match(t.name or ""):
                raise ValueError(
                    f"field type name {t.name!r}: lower case letters, digits and _, "
                    "starting with a letter"
                )
            if t.name in self._types:
                raise ValueError(f"two field types are named '{t.name}'")
            self._types[t.name] = t
        self.builtin = builtin or frozenset(self._types)

    def __getitem__(self, name: str) -> FieldType:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def extended(self, extra: Iterable[FieldType]) -> FieldTypes:
        """These types plus `extra` (a name already taken is refused)."""
        return FieldTypes([*self.values(), *extra], self.builtin)

    @property
    def added(self) -> tuple[FieldType, ...]:
        """The types plugins added, in order."""
        return tuple(t for n, t in self._types.items() if n not in self.builtin)


@functools.cache
def builtin_field_types() -> FieldTypes:
    return FieldTypes(cls() for cls in BUILTIN_TYPES)
