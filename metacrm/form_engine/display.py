"""Values as people read them: option labels, the titles of referenced records, user
names, numbers and dates in the user's locale. Lookups are batched per page."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
from typing import Any

from babel import Locale
from flask import g
from flask_babel import format_date, format_datetime, format_timedelta, get_locale, gettext
from sqlalchemy import select

from metacrm.metadata.field_types import AttachmentType
from metacrm.metadata.model import Entity, Field, SelectSpec, label_text
from metacrm.platform.errors import Forbidden, NotFound
from metacrm.platform.records.service import RecordService


def lang() -> str:
    """The metadata label locale of the current UI language (`zh-CN` for zh_CN)."""
    locale = str(get_locale() or "en")
    return "zh-CN" if locale.startswith("zh") else "en"


def label(value) -> str:
    return label_text(value, lang()) if value else ""


def _values(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class Lookups:
    """Titles of referenced records and names of users, fetched once for a page."""

    def __init__(self, service: RecordService):
        self.service = service
        self.titles: dict[tuple[str, int], str] = {}
        self.users: dict[int, str] = {}

    def load(self, entity: Entity, rows: list[dict], names: list[str]) -> None:
        wanted_users: set[int] = set()
        for name in names:
            f = entity.fields.get(name)
            ids = {v for r in rows for v in _values(r.get(name)) if isinstance(v, int)}
            if f is None:
                if name in ("owner_id", "created_by", "updated_by"):
                    wanted_users |= ids
                continue
            target = f.kind.target(f)
            if f.kind.references and target is None:
                wanted_users |= ids
            elif target is not None and ids:
                self._titles(target, ids)
        if wanted_users:
            users = self.service.state.system["users"]
            with self.service.state.engine.connect() as conn:
                for uid, username in conn.execute(
                    select(users.c.id, users.c.username).where(users.c.id.in_(wanted_users))
                ):
                    self.users[uid] = username

    def _titles(self, target: str, ids: set[int]) -> None:
        entity = self.service.entity(target)
        try:
            found = self.service.get_many(target, sorted(ids))
        except (Forbidden, NotFound):  # a target the user may not read shows ids
            return
        for rid, record in found.items():
            self.titles[(target, rid)] = str(record.get(entity.title_field) or f"#{rid}")

    def title(self, target: str, rid: int) -> str:
        return self.titles.get((target, rid), f"#{rid}")


def show(f: Field | None, value: Any, lookups: Lookups | None = None, name: str = "") -> str:
    """A value as text for a person (the template escapes it)."""
    if value is None or value == [] or value == "":
        return ""
    if f is None:  # a system column
        if name in ("created_at", "updated_at") and isinstance(value, str):
            return format_datetime(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        if lookups is not None and name in ("owner_id", "created_by", "updated_by"):
            return lookups.users.get(value, f"#{value}")
        return str(value)
    kind = f.value_kind
    if isinstance(f.spec, SelectSpec):
        labels = _option_labels(f)
        values = value if isinstance(value, list) else [value]
        return ", ".join(labels.get(v, str(v)) for v in values)
    target = f.kind.target(f)
    if lookups is not None and f.kind.references:
        values = value if isinstance(value, list) else [value]
        if target is None:
            return ", ".join(lookups.users.get(v, f"#{v}") for v in values)
        return ", ".join(lookups.title(target, v) for v in values)
    if kind.name == "boolean":
        return gettext("Yes") if value else gettext("No")
    held = files(f, value)
    if held is not None:
        return ", ".join(str(d.get("name", "")) for d in held)
    if kind.summable or kind.name == "rollup":
        text = number_text(value, getattr(f.spec, "scale", None) if kind.name != "integer" else 0)
        if kind.name == "percent":
            return f"{text}%"
        currency = getattr(f.spec, "currency", None)
        return f"{currency} {text}" if kind.name == "currency" and currency else text
    if kind.name == "date" and isinstance(value, str):
        return format_date(dt.date.fromisoformat(value), format="medium")
    if kind.name == "datetime" and isinstance(value, str):
        return format_datetime(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def files(f: Field | None, value: Any) -> list[dict] | None:
    """The files (descriptors) an attachment field holds; None for any other field."""
    if f is None or not isinstance(f.kind, AttachmentType):
        return None
    return [v for v in _values(value) if isinstance(v, dict)] if value else []


MB = 1024 * 1024


def file_size(size: int) -> str:
    if size >= MB:
        return gettext("%(n)s MB", n=number_text(round(size / MB, 1), 1))
    return gettext("%(n)s KB", n=number_text(max(1, round(size / 1024)), 0))


def _option_labels(f: Field) -> dict[str, str]:
    """value -> label of a select field's options in the UI language (once a request)."""
    cache = g.setdefault("metacrm_option_labels", {})
    key = (id(f), lang())
    if key not in cache:
        cache[key] = {o.value: label(o.label) for o in f.spec.options}
    return cache[key]


def option_class(f: Field | None, value: Any) -> str:
    """The CSS class of a pick-list value's color (`/app/options.css`), or ""."""
    if f is None or not isinstance(f.spec, SelectSpec) or not isinstance(value, str):
        return ""
    color = next((o.color for o in f.spec.options if o.value == value), None)
    return f"opt opt-{color[1:].lower()}" if color else ""


def choosable(f: Field, current: Any) -> list:
    """The options a form offers: the active ones, and whatever the record holds now."""
    held = set(current) if isinstance(current, list) else {current}
    return [o for o in f.spec.options if o.active or o.value in held]


def options_css(model) -> str:
    """A class per option color the model names (colors are schema-checked #rrggbb)."""
    colors = sorted(
        {
            o.color[1:].lower()
            for e in model.entities.values()
            for f in e.fields.values()
            if isinstance(f.spec, SelectSpec)
            for o in f.spec.options
            if o.color
        }
    )
    return "".join(f".opt-{c}{{--opt:#{c}}}\n" for c in colors)


@functools.lru_cache(maxsize=8)
def _symbols(locale: str) -> tuple[str, str]:
    symbols = Locale.parse(locale).number_symbols
    symbols = symbols.get("latn", symbols)  # Babel 2.14+: by numbering system
    return symbols["group"], symbols["decimal"]


def number_text(value: Any, scale: int | None = None) -> str:
    """A number with the locale's grouping and decimal signs (Babel's locale data), to the
    field's scale. Plain formatting: Babel's pattern engine cost 130 µs a number, and a
    board shows thousands."""
    number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    text = f"{number:,}" if scale is None else f"{number:,.{scale}f}"
    group, point = _symbols(str(get_locale() or "en"))
    if (group, point) == (",", "."):
        return text
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


def filter_widget(f: Field) -> str:
    """The value control of the list's filter builder for `f`."""
    kind = f.value_kind
    if isinstance(f.spec, SelectSpec):
        return "select"
    if kind.name == "boolean":
        return "boolean"
    if f.kind.references:
        return "reference" if f.kind.target(f) else "user"
    if kind.dated:
        return "date" if kind.name == "date" else "datetime-local"
    if kind.summable:
        return "number"
    return "text"


RECENT = dt.timedelta(days=7)


def aware(value: Any) -> dt.datetime:
    """A stored moment (a datetime, or ISO text as the API gives it) as an aware datetime."""
    moment = (
        value
        if isinstance(value, dt.datetime)
        else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if moment.tzinfo is None:  # SQLite gives back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def when(value: Any) -> str:
    """A moment as people say it: "5 minutes ago" within a week, else the date and time
    (the tenant's time zone, the user's locale); the exact time is in the tooltip."""
    if value is None or value == "":
        return ""
    moment = aware(value)
    ago = moment - dt.datetime.now(dt.UTC)
    if abs(ago) < RECENT:
        return format_timedelta(ago, add_direction=True, threshold=1.1)
    return format_datetime(moment)
