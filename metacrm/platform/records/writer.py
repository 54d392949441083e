"""Creating records: the create pipeline in one transaction (validation, plugin
before_save, auto numbers, inserts, many-to-many links, events), batched and
all-or-nothing. A part of the record service (a mixin)."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from metacrm.metadata.model import Entity
from metacrm.platform.db import audit, search
from metacrm.platform.db.tables import link_table_name
from metacrm.platform.errors import Conflict, RecordInvalid, field_errors
from metacrm.platform.records.attachments import RecordAttachments


class RecordWriter(RecordAttachments):
    def _insert_rows(self, conn: Connection, entity: Entity, rows: list[dict]) -> list[int]:
        """Insert `rows`; return their ids in order.

        PostgreSQL batches INSERT ... RETURNING. SQLite cannot guarantee RETURNING
        order for a multi-row insert, so SQLAlchemy would send one statement per row;
        instead, holding the write lock (BEGIN IMMEDIATE), we number the rows
        ourselves after the current maximum id and send one executemany.
        """
        table = self.state.tables[entity.name]
        if conn.dialect.name == "sqlite" and len(rows) > 1:
            start = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one() + 1
            ids = list(range(start, start + len(rows)))
            for rid, row in zip(ids, rows, strict=True):
                row["id"] = rid
            search.insert_indexed(conn, entity, table, rows, start)
            return ids
        key = f"insert:{entity.name}"
        stmt = self.state.cache.get(key)
        if stmt is None:
            stmt = self.state.cache[key] = table.insert().returning(
                table.c.id, sort_by_parameter_order=True
            )
        return [r[0] for r in conn.execute(stmt, rows)]

    def _reserve(self, conn: Connection, name: str, count: int) -> int:
        """Atomically take `count` numbers of sequence `name`; returns the last one."""
        stmt = self.state.cache.get("reserve")
        if stmt is None:
            t = self.state.system["sequences"]
            insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
            stmt = self.state.cache["reserve"] = (
                insert(t)
                .values(name=bindparam("seq_name"), value=bindparam("count"))
                .on_conflict_do_update(
                    index_elements=[t.c.name], set_={"value": t.c.value + bindparam("count")}
                )
                .returning(t.c.value)
            )
        return conn.execute(stmt, {"seq_name": name, "count": count}).scalar_one()

    def _assign_auto_numbers(self, conn: Connection, entity: Entity, rows: list[dict]) -> None:
        now = self.context.now
        for f in entity.fields.values():
            if f.type != "auto_number":
                continue
            scope = (
                f.spec.pattern.replace("{YYYY}", f"{now.year:04d}")
                .replace("{YY}", f"{now.year % 100:02d}")
                .replace("{MM}", f"{now.month:02d}")
                .replace("{DD}", f"{now.day:02d}")
            )
            last = self._reserve(conn, f"{entity.name}.{f.name}:{scope}", len(rows))
            first = last - len(rows) + 1
            head, _, rest = scope.partition("{seq")
            width_spec, _, tail = rest.partition("}")
            width = int(width_spec.lstrip(":") or 0)
            for i, row in enumerate(rows):
                row[f.name] = f"{head}{first + i:0{width}d}{tail}"

    # -- reads ------------------------------------------------------------------

    def create_records(
        self,
        entity_name: str,
        bodies: list,
        bulk: bool,
        conn: Connection | None = None,
        dry_run: bool = False,
        returning: bool = True,
    ) -> list[dict]:
        """Validate and insert; inside `conn` if given (the caller commits), or its own transaction.

        With `dry_run`, every check runs (rules, references, uniqueness, duplicate rules)
        and nothing is written: the import's dry run and all-or-nothing mode use it.
        """
        entity = self.entity(entity_name)
        self.require(entity, "create")
        errors: list[dict] = []
        items: list[tuple[int | None, dict]] = []
        if bulk:
            prepared = []
            for i, body in enumerate(bodies):
                clean, errs = self._prepare_body(entity, body, partial=False, index=i)
                errors += errs
                prepared.append(clean if clean is not None else {})
            loaded, invalid = self.schema(entity).load_many(prepared)
            for i, messages in sorted(invalid.items()):
                if bodies[i].__class__ is dict:
                    errors += field_errors(messages, i)
            items = [(i, data) for i, data in enumerate(loaded)]
        else:
            data, errs = self._validate_body(entity, bodies[0], partial=False, index=None)
            errors += errs
            if data is not None:
                items.append((None, data))
        if errors:
            raise RecordInvalid(self._summary(entity, errors), errors)
        m2m = self._m2m_fields(entity)
        now, actor = self.context.now, self.context.user_id
        owned = conn is None
        with self._transaction(conn) as conn:
            provided = [
                set(bodies[i or 0]) if isinstance(bodies[i or 0], dict) else set() for i, _ in items
            ]
            self._rules(
                conn,
                entity,
                [(i, data, keys, None) for (i, data), keys in zip(items, provided, strict=True)],
                errors,
            )
            self._check_references(conn, entity, items, errors)
            self._check_attachments(conn, entity, items, errors)
            self._check_unique(conn, entity, items, errors)
            if errors:
                raise RecordInvalid(self._summary(entity, errors), errors)
            rows = []
            m2m_names = {f.name for f in m2m}
            for _, data in items:
                row = (
                    {k: v for k, v in data.items() if k not in m2m_names}
                    if m2m_names
                    else dict(data)
                )
                row.update(
                    owner_id=actor,
                    created_at=now,
                    created_by=actor,
                    updated_at=now,
                    updated_by=actor,
                    version=1,
                )
                self._hook(
                    "metacrm_before_save",
                    entity=entity,
                    record=row,
                    previous=None,
                    context=self.context,
                )
                rows.append(row)
            warnings = self._duplicates(conn, entity, rows, rows, [None] * len(rows), bulk)
            if dry_run:
                return []
            self._assign_auto_numbers(conn, entity, rows)
            keys = sorted({k for row in rows for k in row})
            full = [{k: row.get(k) for k in keys} for row in rows]
            try:
                ids = self._insert_rows(conn, entity, full)
            except IntegrityError as exc:
                raise Conflict(f"the database refused the write: {exc.orig}") from exc
            for f in m2m:
                links = [
                    {"source_id": rid, "target_id": t}
                    for rid, (_, data) in zip(ids, items, strict=True)
                    for t in sorted(set(data.get(f.name) or []))
                ]
                if links:
                    conn.execute(self.state.tables[link_table_name(entity, f)].insert(), links)
            self._link_files(conn, entity, ids, [data for _, data in items])
            audit.record_histories(conn, self.state, entity, ids, "create", actor, now)
            self._stage_moves(
                conn, entity, [(rid, None, row) for rid, row in zip(ids, full, strict=True)]
            )
            self.record_events(
                conn, entity, "record.created", [(rid, {"actor": actor}) for rid in ids]
            )
            listeners = self.pm is not None and self.pm.hook.metacrm_after_commit.get_hookimpls()
            wanted = returning or bool(listeners)  # bulk imports do not need the records back
            virtual = self._virtual_values(entity, ids, conn) if wanted else {}
        self._dispatch(owned)
        if not wanted:
            return []
        out: list[dict] = []
        columns = self.columns(entity)
        serialize = self.serializer(entity, columns)
        for rid, row, (_, data) in zip(ids, full, items, strict=True):
            record = serialize([rid if c == "id" else row.get(c) for c in columns])
            record.update(virtual.get(rid, {}))
            for f in m2m:
                record[f.name] = sorted(set(data.get(f.name) or []))
            if warnings.get(len(out)):
                record["warnings"] = warnings[len(out)]
            out.append(record)
            self._hook(
                "metacrm_after_commit",
                entity=entity,
                record=record,
                previous=None,
                operation="create",
                context=self.context,
            )
        return out
