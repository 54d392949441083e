"""Duplicate rules: normalized keys kept in `_dup_<rule>` columns, checked on every write.

A rule lists fields; two live records are duplicates under it when every field,
normalized, is equal and not empty. Emails compare lower-cased and trimmed,
phones by their digits, names fuzzily: case, accents, full-width forms,
punctuation, spaces between CJK characters, company suffixes such as Inc, Ltd,
GmbH, 有限公司 or （集团）, and the 省/市 after a leading place name
(深圳市星河科技 = 深圳星河科技) are ignored. `block` refuses the
write (409 naming the existing records); `warn` writes and reports them.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import and_, select, update

from metacrm.metadata.model import DuplicateRule, Entity
from metacrm.platform.db.search_text import CJK_CLASS

KEY_LENGTH = 255
KEY_VERSION = 2  # bump when normalize() changes: plans recompute every rule's stored keys
SUFFIXES = re.compile(
    r"\b(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|plc|gmbh|ag|sa|sarl|bv|nv|pty|kk)\b\.?"
    r"|(有限责任公司|股份有限公司|股份公司|有限公司|集团|公司)"
)
CJK_SPACE = re.compile(f"(?<=[{CJK_CLASS}])\\s+|\\s+(?=[{CJK_CLASS}])")
# 深圳市 / 广东省 at the start of a name: the administrative suffix is often left out
PLACE_SUFFIX = re.compile(f"^([{CJK_CLASS}]{{2,3}}?)[省市]")


def key_column(rule: DuplicateRule) -> str:
    return f"_dup_{rule.name}"


def normalize(match_as: str, value) -> str | None:
    """The key a value is compared by: `match_as` is its field type's (email, phone, name)."""
    if value is None:
        return None
    text = str(value)
    if match_as == "email":
        text = text.strip().lower()
    elif match_as == "phone":
        text = re.sub(r"\D", "", text)
    else:
        text = unicodedata.normalize("NFKD", text.casefold())
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        text = SUFFIXES.sub(" ", text)
        text = re.sub(r"[^\w]+", " ", text).strip()
        text = PLACE_SUFFIX.sub(r"\1", CJK_SPACE.sub("", text))
    return text or None


def rule_key(entity: Entity, rule: DuplicateRule, record: dict) -> str | None:
    parts = []
    for name in rule.fields:
        part = normalize(entity.fields[name].kind.match_as, record.get(name))
        if part is None:
            return None
        parts.append(part)
    return "|".join(parts)[:KEY_LENGTH]


def assign_keys(entity: Entity, records: list[dict], rows: list[dict]) -> None:
    """Put each rule's key into the row to write (computed from the full record)."""
    for record, row in zip(records, rows, strict=True):
        for rule in entity.duplicate_rules:
            row[key_column(rule)] = rule_key(entity, rule, record)


def find(
    conn, table, entity: Entity, rows: list[dict], exclude_ids: list[int | None]
) -> list[dict]:
    """Matches of `rows` among live records and within the batch: [{rule, action, index, ids}]."""
    found = []
    for rule in entity.duplicate_rules:
        column = key_column(rule)
        keys = {row[column] for row in rows if row.get(column)}
        existing: dict[str, list[int]] = {}
        if keys:
            query = select(table.c.id, table.c[column]).where(
                table.c[column].in_(sorted(keys)), table.c.deleted_at.is_(None)
            )
            for rid, key in conn.execute(query):
                existing.setdefault(key, []).append(rid)
        seen: dict[str, int] = {}
        for i, (row, own_id) in enumerate(zip(rows, exclude_ids, strict=True)):
            key = row.get(column)
            if not key:
                continue
            ids = sorted(r for r in existing.get(key, []) if r != own_id)
            if ids:
                found.append({"rule": rule.name, "action": rule.action, "index": i, "ids": ids})
            elif key in seen:
                found.append(
                    {
                        "rule": rule.name,
                        "action": rule.action,
                        "index": i,
                        "ids": [],
                        "same_as_index": seen[key],
                    }
                )
            seen.setdefault(key, i)
    return found


def backfill(conn, entity: Entity, table, rule: DuplicateRule) -> None:
    """Compute a new rule's key for every existing row."""
    columns = [table.c.id, *[table.c[name] for name in rule.fields]]
    for row in conn.execute(select(*columns)).all():
        record = dict(zip(["id", *rule.fields], row, strict=True))
        conn.execute(
            update(table)
            .where(and_(table.c.id == row[0]))
            .values({key_column(rule): rule_key(entity, rule, record)})
        )
