"""The compiled model: frozen dataclasses, one spec shape per field type.

What the runtime reads. Built only by `compiler.compile_model`; never mutated,
so it can be shared between requests and threads and identified by its hash.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metacrm.metadata.field_types import FieldType

SYSTEM_COLUMNS = (
    "id",
    "owner_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "version",
    "deleted_at",
)
# system columns, database pseudo-columns, and the list API's own query parameters
RESERVED_FIELD_NAMES = frozenset(SYSTEM_COLUMNS) | {
    "tenant",
    "tenant_id",
    "oid",
    "ctid",
    "rowid",
    "xmin",
    "filter",
    "sort",
    "limit",
    "cursor",
    "fields",
    "q",
    "with_total",
}

# words of the screens' URLs (/app/search, /app/imports/7...): no entity may be named so
RESERVED_ENTITY_NAMES = frozenset(
    {"search", "notifications", "imports", "approvals", "pools", "lang", "setup", "new"}
)

Label = Mapping[str, str]


def label_text(label: Label, locale: str = "en") -> str:
    return label.get(locale) or label.get("en") or next(iter(label.values()), "")


def humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def label_of(value: Any, fallback: str) -> Label:
    """A declared label (text, or text by locale), else `fallback` humanized."""
    if value is None:
        return MappingProxyType({"en": humanize(fallback)})
    if isinstance(value, str):
        return MappingProxyType({"en": value})
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Option:
    value: str
    label: Label
    color: str | None = None
    active: bool = True  # False: kept for the records that hold it, offered no more


# --- one spec per field type -------------------------------------------------
@dataclass(frozen=True)
class TextSpec:
    max_length: int = 255
    pattern: str | None = None


@dataclass(frozen=True)
class LongTextSpec:
    max_length: int | None = None


@dataclass(frozen=True)
class IntegerSpec:
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class DecimalSpec:
    precision: int = 18
    scale: int = 2
    min: float | None = None
    max: float | None = None
    currency: str | None = None


@dataclass(frozen=True)
class PlainSpec:
    """Types with nothing to configure: boolean, date, datetime, email, phone, url, user, json, tags."""


@dataclass(frozen=True)
class SelectSpec:
    options: tuple[Option, ...]
    max_selected: int | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)


@dataclass(frozen=True)
class ReferenceSpec:
    entity: str
    on_delete: str = "restrict"


@dataclass(frozen=True)
class ManyToManySpec:
    entity: str


@dataclass(frozen=True)
class FormulaSpec:
    expression: str
    result_type: str
    stored: bool = False
    scale: int | None = None


@dataclass(frozen=True)
class RollupSpec:
    entity: str
    via: str
    function: str
    field: str | None = None
    filter: str | None = None
    scale: int | None = None  # places of its values: None for a count (build.rollup_scale)


@dataclass(frozen=True)
class AutoNumberSpec:
    pattern: str


@dataclass(frozen=True)
class AttachmentSpec:
    multiple: bool = False
    max_size_mb: int = 25
    accept: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: Label
    spec: Any
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    default_expression: str | None = None
    help: Label | None = None
    read_only: bool = False
    hidden: bool = False
    visible_if: str | None = None
    required_if: str | None = None
    renamed_from: str | None = None
    origin: str = ""  # "package:name" or "overlay": where the field was declared
    # the type object of `type` (field_types), and the one its values behave as: the
    # same, except a formula's is its result type's. Set by build.build_field.
    kind: FieldType = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    value_kind: FieldType = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    @functools.cached_property  # (writes __dict__ directly: fine on a frozen dataclass)
    def stored(self) -> bool:
        """True when the field has a column in the entity's table."""
        return self.kind.is_stored(self)

    @functools.cached_property
    def writable(self) -> bool:
        return not self.read_only and not self.kind.computed


@dataclass(frozen=True)
class Index:
    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class ValidationRule:
    name: str
    expression: str
    message: Label


@dataclass(frozen=True)
class DuplicateRule:
    name: str
    fields: tuple[str, ...]
    action: str = "warn"


@dataclass(frozen=True)
class Entity:
    name: str
    label: Label
    plural: Label
    fields: Mapping[str, Field]
    title_field: str | None = None
    search_fields: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    validation_rules: tuple[ValidationRule, ...] = ()
    duplicate_rules: tuple[DuplicateRule, ...] = ()
    pipeline: str | None = None
    scope: str = "all"
    audit: bool = False
    origin: str = ""
    icon: str | None = None  # a symbol shown before its name in the menu

    @property
    def table(self) -> str:
        return self.name


@dataclass(frozen=True)
class Stage:
    name: str
    label: Label
    category: str
    probability: int | None = None
    requires: tuple[str, ...] = ()
    entry_rules: tuple[tuple[str, Label], ...] = ()
    transitions: tuple[str, ...] | None = None
    idle_alert_days: int | None = None
    optional: bool = False  # may be skipped: later stages do not inherit its requirements


@dataclass(frozen=True)
class Pipeline:
    name: str
    label: Label
    entity: str
    field: str
    stages: tuple[Stage, ...]
    applies_if: str | None = None


@dataclass(frozen=True)
class FormSection:
    """A form view's section: its fields in order, side by side in `columns` (None: 2)."""

    label: Label | None
    fields: tuple[str, ...]
    columns: int | None = None


@dataclass(frozen=True)
class View:
    name: str
    label: Label
    entity: str
    kind: str
    columns: tuple[str, ...] = ()
    filter: str | None = None
    sort: tuple[str, ...] = ()
    group_by: str | None = None
    default: bool = False
    sections: tuple[FormSection, ...] = ()
    # form: the record page's related lists (entity.field); None: every reference to it
    related: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EntityGrant:
    """What a role grants on one entity (or on every entity, under the name `*`)."""

    actions: frozenset[str]
    scope: str | None = None  # own | team | all; None = the entity's ownership.scope
    fields: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )  # name -> none|read|write


@dataclass(frozen=True)
class Role:
    name: str
    label: Label
    admin: bool = False
    entities: Mapping[str, EntityGrant] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Approver:
    kind: str  # user | role | manager | field
    value: str  # username | role name | owner/submitter/approver | user field


@dataclass(frozen=True)
class Trigger:
    on: str  # created | updated | field_changed | stage_changed | approval_decided | date | cron
    fields: tuple[str, ...] = ()  # field_changed: any of these
    to: tuple[str, ...] = ()  # stage_changed: into one of these stages (empty = any)
    to_category: str | None = None  # stage_changed: into a stage of this category
    flows: tuple[str, ...] = ()  # approval_decided: of one of these flows (empty = any)
    outcome: str | None = None  # approval_decided: approved | rejected | recalled
    field: str | None = None  # date: counted from this date/datetime field
    offset_days: int = 0  # date: days after the field's date (negative: before)
    cron: str | None = None  # cron: five-field expression in the tenant's time zone


@dataclass(frozen=True)
class AssignRule:
    when: str
    people: tuple[Approver, ...]


@dataclass(frozen=True)
class Action:
    kind: str  # set | create | notify | assign | return_to_pool | email | webhook | plugin
    entity: str | None = None  # create: the new record's entity
    values: tuple[tuple[str, str], ...] = ()  # set / create: (field, expression)
    to: str | None = None  # notify / email: owner | manager | a user (or email) field
    message: Label | None = None
    strategy: str = "round_robin"  # assign
    people: tuple[Approver, ...] = ()  # assign: the candidates when no rule matches
    rules: tuple[AssignRule, ...] = ()  # assign: first matching rule's people
    open_filter: str | None = None  # assign (load_balanced): what counts as open work
    pool: str | None = None  # return_to_pool (None: the entity's default pool)
    reason: str | None = None  # return_to_pool
    subject: str | None = None  # email (a sandboxed template)
    body: str | None = None  # email
    url: str | None = None  # webhook
    name: str | None = None  # plugin: the action's registered name
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Automation:
    name: str
    label: Label
    entity: str
    trigger: Trigger
    actions: tuple[Action, ...]
    condition: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Outcome:
    """What happens to the record when a flow is submitted, approved, rejected or recalled."""

    values: tuple[tuple[str, str], ...] = ()  # (field, expression)
    stage: str | None = None


@dataclass(frozen=True)
class ApprovalStep:
    name: str
    label: Label
    approvers: tuple[Approver, ...]
    mode: str = "any"  # any: one approval decides; all: every approver must approve
    condition: str | None = None
    timeout_hours: float | None = None
    escalate_to: tuple[Approver, ...] = ()


@dataclass(frozen=True)
class ApprovalFlow:
    name: str
    label: Label
    entity: str
    steps: tuple[ApprovalStep, ...]
    entry: str | None = None
    entry_message: Label | None = None
    lock: bool = True
    enabled: bool = True
    on_submit: Outcome = Outcome()
    on_approve: Outcome = Outcome()
    on_reject: Outcome = Outcome()
    on_recall: Outcome = Outcome()


@dataclass(frozen=True)
class RecycleRule:
    name: str
    after_days: int
    since: str = "updated_at"
    condition: str | None = None
    warn_days: int | None = None


@dataclass(frozen=True)
class Pool:
    name: str
    label: Label
    entity: str
    members: tuple[Approver, ...]  # role / user specs
    managers: tuple[Approver, ...] = ()
    default: bool = False
    columns: tuple[str, ...] = ()
    max_held: int | None = None
    daily_claims: int | None = None
    limits_by_role: Mapping[str, Mapping[str, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    return_reasons: tuple[str, ...] = ()
    recycle: tuple[RecycleRule, ...] = ()


@dataclass(frozen=True)
class NavSection:
    """A heading of the app's navigation and the entities under it (package.yaml)."""

    label: Label
    entities: tuple[str, ...]


@dataclass(frozen=True)
class Model:
    """A tenant's effective metadata: packages + overlay, compiled."""

    entities: Mapping[str, Entity]
    pipelines: Mapping[str, Pipeline] = field(default_factory=lambda: MappingProxyType({}))
    views: Mapping[str, View] = field(default_factory=lambda: MappingProxyType({}))
    roles: Mapping[str, Role] = field(default_factory=lambda: MappingProxyType({}))
    automations: Mapping[str, Automation] = field(default_factory=lambda: MappingProxyType({}))
    approvals: Mapping[str, ApprovalFlow] = field(default_factory=lambda: MappingProxyType({}))
    pools: Mapping[str, Pool] = field(default_factory=lambda: MappingProxyType({}))
    packages: tuple[tuple[str, str], ...] = ()  # (name, version) in layering order
    navigation: tuple[NavSection, ...] = ()  # the packages' sections, in layering order
    content_hash: str = ""

    def entity(self, name: str) -> Entity:
        return self.entities[name]

    def pipeline_of(self, entity: str) -> Pipeline | None:
        """The first pipeline declared for `entity` (its board, its stage path), if any."""
        return next((p for p in self.pipelines.values() if p.entity == entity), None)
