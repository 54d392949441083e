"""What a write must pass before it touches a table: body keys, marshmallow, rules,
references that exist and may be read, uniqueness, duplicates. A part of the record
service (a mixin: the methods read the service's state, context and access)."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Connection, and_, bindparam, select

from metacrm.metadata.model import Entity
from metacrm.platform.access.permissions import scope_binds
from metacrm.platform.db import duplicates
from metacrm.platform.errors import Conflict, field_errors
from metacrm.platform.records.core import RecordCore
from metacrm.platform.records.rules import apply_rules, field_conditions


class RecordValidation(RecordCore):
    def _duplicates(
        self, conn, entity: Entity, records: list[dict], rows: list[dict], own_ids: list, bulk: bool
    ) -> dict[int, list]:
        """Fill the rows' duplicate keys; raise on `block` matches; return `warn` matches per row."""
        if not entity.duplicate_rules:
            return {}
        duplicates.assign_keys(entity, records, rows)
        found = duplicates.find(conn, self.state.tables[entity.name], entity, rows, own_ids)
        blocking = [d for d in found if d["action"] == "block"]
        if blocking:
            errors = []
            for d in blocking:
                rule = next(r for r in entity.duplicate_rules if r.name == d["rule"])
                where = (
                    f"{entity.name} {', '.join(map(str, d['ids']))}"
                    if d["ids"]
                    else f"record {d.get('same_as_index')} of this request"
                )
                err = {
                    "field": rule.fields[0],
                    "rule": d["rule"],
                    "message": f"duplicate of {where} (rule {d['rule']}: {', '.join(rule.fields)})",
                    "duplicates": d["ids"],
                }
                if bulk:
                    err["index"] = d["index"]
                errors.append(err)
            raise Conflict(f"{len(blocking)} duplicate(s) refused by the duplicate rules", errors)
        warnings: dict[int, list] = {}
        for d in found:
            warnings.setdefault(d["index"], []).append({"rule": d["rule"], "duplicates": d["ids"]})
        return warnings

    def field_conditions(self, entity_name: str, body: dict, new: bool = False) -> dict[str, dict]:
        """What a form showing `body` (a record being written) shows and requires now: the
        same visible_if/required_if a save evaluates. Values that do not load yet (half
        typed) count as empty."""
        entity = self.entity(entity_name)
        self.require(entity, "read")
        fields = self.schema(entity).schema.load_fields
        values: dict = {}
        for name, value in body.items():
            f = fields.get(name)
            if f is None:
                continue
            try:
                values[name] = f.deserialize(value, name, body)
            except ValidationError:
                values[name] = None
        with self.state.engine.connect() as conn:
            return field_conditions(
                conn,
                self.state,
                entity,
                values,
                self.eval_ctx,
                self.registry,
                self.context.locale,
                new,
            )

    def _rules(
        self, conn: Connection, entity: Entity, items: list[tuple], errors: list[dict]
    ) -> None:
        apply_rules(
            conn,
            self.state,
            entity,
            items,
            self.eval_ctx,
            self.registry,
            self.context.locale,
            errors,
        )

    def _prepare_body(
        self, entity: Entity, body: Any, partial: bool, index: int | None
    ) -> tuple[dict | None, list[dict]]:
        """Key checks and defaults: the body marshmallow will load, and errors so far."""
        if not isinstance(body, dict):
            return None, [
                {
                    "field": None,
                    "message": "a record must be a JSON object",
                    **({"index": index} if index is not None else {}),
                }
            ]
        schema = self.schema(entity)
        extra = body.keys() - schema.writable_keys
        errors: list[dict] = []
        grant = self.grant(entity)
        if grant.fields:
            hidden = grant.hidden
            extra |= {k for k in body if k in hidden}  # hidden fields: as unknown as any other
            for key in body.keys() & schema.writable_keys:
                if key not in hidden and grant.level(key) != "write":
                    errors.append(
                        {
                            "field": key,
                            "message": "is read-only for your role",
                            **({"index": index} if index is not None else {}),
                        }
                    )
        clean = body
        if extra:
            allowed = ("version",) if partial else ()
            keys = {k: None for k in extra}
            errors += field_errors(schema.key_errors(keys, allowed, grant.hidden), index)
            clean = {k: v for k, v in body.items() if k in schema.writable_keys and k not in extra}
        if not partial and schema.defaults:
            clean = dict(clean)
            for name, default in schema.defaults:
                if name not in clean:
                    clean[name] = copy.deepcopy(default)
        return clean, errors

    def _validate_body(
        self, entity: Entity, body: Any, partial: bool, index: int | None
    ) -> tuple[dict | None, list[dict]]:
        clean, errors = self._prepare_body(entity, body, partial, index)
        if clean is None:
            return None, errors
        try:
            data = self.schema(entity).load(clean, partial=partial)
        except ValidationError as exc:
            errors += field_errors(exc.messages, index)
            data = None
        return data, errors

    def _check_references(
        self, conn: Connection, entity: Entity, items: list[tuple[int | None, dict]], errors: list
    ) -> None:
        references = self.schema(entity).references
        if not references:
            return
        wanted: dict[str, set[int]] = defaultdict(set)
        for _, data in items:
            for name, target in references:
                value = data.get(name)
                if value is None:
                    continue
                if isinstance(value, list):
                    wanted[target].update(value)
                else:
                    wanted[target].add(value)
        existing: dict[str, set[int]] = {}
        for target, ids in wanted.items():
            existing[target] = {
                r[0]
                for r in conn.execute(
                    self._exists_query(target),
                    {"ids": sorted(ids), **scope_binds(self.context.access)},
                )
            }
        for index, data in items:
            for name, target in references:
                value = data.get(name)
                if value is None:
                    continue
                for v in value if isinstance(value, list) else [value]:
                    if v not in existing[target]:
                        what = "user" if target == "_users" else f"{target} record"
                        err: dict[str, Any] = {"field": name, "message": f"no {what} with id {v}"}
                        if index is not None:
                            err["index"] = index
                        errors.append(err)

    def _exists_query(self, target: str):
        """Ids among `:ids` that exist, are live and that this user may see (scope applies:
        a record you cannot see is one you cannot link to)."""
        target_entity = self.model.entities.get(target)
        access_key = self.access_key(target_entity) if target_entity is not None else ()
        key = ("exists", target, access_key)
        query = self.state.cache.get(key)
        if query is None:
            table = self.state.system["users"] if target == "_users" else self.state.tables[target]
            cond: Any = table.c.id.in_(bindparam("ids", expanding=True))
            if target_entity is not None:
                cond = and_(cond, table.c.deleted_at.is_(None))
                scope = self.scope(target_entity, table)
                if scope is not None:
                    cond = and_(cond, scope)
            query = self.state.cache[key] = select(table.c.id).where(cond)
        return query

    def _check_unique(
        self,
        conn: Connection,
        entity: Entity,
        items: list[tuple[int | None, dict]],
        errors: list,
        own_ids: Sequence[int] = (),
    ) -> None:
        """Unique fields: not twice in the request, not used by another live record
        (items[i] updates own_ids[i] when given; a record keeps its own value)."""
        table = self.state.tables[entity.name]
        for name, f in entity.fields.items():
            if not f.unique or f.type == "auto_number":
                continue
            seen: dict[Any, int | None] = {}
            owner: dict[Any, int] = {}
            for pos, (index, data) in enumerate(items):
                value = data.get(name)
                if value is None:
                    continue
                if value in seen:
                    errors.append(
                        {
                            "field": name,
                            "message": f"value {value!r} appears twice in this request",
                            "index": index,
                        }
                    )
                seen[value] = index
                if own_ids:
                    owner[value] = own_ids[pos]
            if not seen:
                continue
            cond = and_(table.c[name].in_(list(seen)), table.c.deleted_at.is_(None))
            for rid, value in conn.execute(select(table.c.id, table.c[name]).where(cond)):
                if owner.get(value) == rid:
                    continue
                err: dict[str, Any] = {
                    "field": name,
                    "message": f"must be unique: {value!r} is already used by another {entity.name}",
                }
                if seen.get(value) is not None:
                    err["index"] = seen[value]
                errors.append(err)

    # -- auto numbers -----------------------------------------------------------
