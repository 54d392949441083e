"""Updating records, one or many, through the same checks (RecordService.update/update_many).

One request's records are read, checked and written together: one locked read of
the stored rows, the record rules, references and uniqueness over all of them,
one UPDATE per shape of change (executemany), one history insert, one outbox
write. A single PATCH is a batch of one, so both paths are the same code. Any
error refuses the whole batch (nothing written); a bulk error names its index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from metacrm.platform.db import audit, locks
from metacrm.platform.db.tables import link_table_name
from metacrm.platform.errors import Conflict, RecordInvalid
from metacrm.platform.records.attachments import RecordAttachments
from metacrm.platform.records.schemas import json_integer


class RecordUpdater(RecordAttachments):
    """The update path of the record service."""

    def _update_records(
        self, entity_name: str, items: list[tuple[int, Any]], conn, bulk: bool
    ) -> list[dict]:
        """Apply partial `bodies` to records `ids` (items: (id, body)); the records afterwards."""
        entity = self.entity(entity_name)
        self.require(entity, "update")
        ids = [rid for rid, _ in items]
        if len(set(ids)) != len(ids):
            raise RecordInvalid("a record appears twice in this request")

        def index(i: int) -> int | None:
            return i if bulk else None

        datas: list[dict] = []
        errors: list[dict] = []
        for i, (_, body) in enumerate(items):
            data, errs = self._validate_body(entity, body, partial=True, index=index(i))
            datas.append(data if data is not None else {})  # None only with errors
            errors += errs
        if errors:
            raise RecordInvalid(self._summary(entity, errors), errors)
        expected = {}
        for i, (rid, body) in enumerate(items):
            version = body.get("version")
            if version is not None and (version := json_integer(version)) is None:
                err = {"field": "version", "message": "must be an integer"}
                raise RecordInvalid("version must be an integer", [err | _at(index(i))])
            expected[rid] = version
        m2m = {f.name: f for f in self._m2m_fields(entity)}
        owned = conn is None
        state, context = self.state, self.context
        with self._transaction(conn) as conn:
            raws = self.writable_rows(conn, entity, ids)
            for rid in ids:
                if rid not in raws:
                    self.writable_row(
                        conn, entity, rid
                    )  # raises the 404 or 403 this record deserves
            locks.ensure_unlocked(conn, state, context, entity.name, ids)
            previous = self.get_many(entity_name, ids, conn)
            for rid in ids:
                want, have = expected[rid], previous[rid]["version"]
                if want is not None and want != have:
                    raise Conflict(
                        f"{entity.name} {rid} was changed by someone else (your version {want}, current {have}); reload and retry",
                        current_version=have,
                    )
            checked = [(index(i), datas[i]) for i in range(len(items))]
            self._rules(
                conn,
                entity,
                [(index(i), datas[i], set(body), raws[rid]) for i, (rid, body) in enumerate(items)],
                errors,
            )
            self._check_references(conn, entity, checked, errors)
            self._check_attachments(conn, entity, checked, errors)
            self._check_unique(conn, entity, checked, errors, own_ids=ids)
            if errors:
                raise RecordInvalid(self._summary(entity, errors), errors)
            rows = [{k: v for k, v in data.items() if k not in m2m} for data in datas]
            rule_fields = {f for rule in entity.duplicate_rules for f in rule.fields}
            warnings: dict[int, Any] = {}
            dup = [i for i, data in enumerate(datas) if rule_fields & set(data)]
            if dup:
                merged = [{**raws[ids[i]], **rows[i]} for i in dup]
                found = self._duplicates(
                    conn, entity, merged, [rows[i] for i in dup], [ids[i] for i in dup], bulk
                )
                warnings = {dup[k]: v for k, v in found.items()}
            for rid, row in zip(ids, rows, strict=True):
                self._hook(
                    "metacrm_before_save",
                    entity=entity,
                    record=row,
                    previous=previous[rid],
                    context=context,
                )
            _write(conn, entity.name, state.tables[entity.name], ids, rows, previous, context)
            self._link_files(conn, entity, ids, datas)
            changes = {
                rid: audit.changed_fields(entity, raws[rid], d)
                for rid, d in zip(ids, datas, strict=True)
            }
            self._stage_moves(
                conn,
                entity,
                [(rid, raws[rid], {**raws[rid], **d}) for rid, d in zip(ids, datas, strict=True)],
            )
            history = [
                r
                for rid in ids
                for r in audit.history_rows(
                    entity, rid, "update", context.user_id, context.now, changes[rid]
                )
            ]
            if history:
                conn.execute(insert(state.system["history"]), history)
            for name, f in m2m.items():
                _relink(conn, state.tables[link_table_name(entity, f)], ids, datas, name)
            after = self.get_many(entity_name, ids, conn)
            records = [after[rid] for rid in ids]
            for i, record in enumerate(records):
                if warnings.get(i):
                    record["warnings"] = warnings[i]
            payloads = [
                (
                    rid,
                    {
                        "actor": context.user_id,
                        "changes": {
                            n: [audit.to_json(o), audit.to_json(v)] for n, o, v in changes[rid]
                        },
                    },
                )
                for rid in ids
                if changes[rid]
            ]
            if payloads:
                self.record_events(conn, entity, "record.updated", payloads)
        self._dispatch(owned)
        for rid, record in zip(ids, records, strict=True):
            self._hook(
                "metacrm_after_commit",
                entity=entity,
                record=record,
                previous=previous[rid],
                operation="update",
                context=context,
            )
        return records


def _at(index: int | None) -> dict:
    return {} if index is None else {"index": index}


def _write(conn, name: str, table, ids, rows, previous, context) -> None:
    """One executemany UPDATE per set of changed columns; each row guarded by its version."""
    shapes: dict[tuple, list[dict]] = {}
    for rid, row in zip(ids, rows, strict=True):
        params = {f"_v_{k}": v for k, v in row.items()}
        params.update(_rid=rid, _version=previous[rid]["version"])
        shapes.setdefault(tuple(sorted(row)), []).append(params)
    for columns, batch in shapes.items():
        stmt = (
            update(table)
            .where(
                table.c.id == bindparam("_rid"),
                table.c.version == bindparam("_version"),
                table.c.deleted_at.is_(None),
            )
            .values(
                {
                    **{c: bindparam(f"_v_{c}") for c in columns},
                    "updated_at": context.now,
                    "updated_by": context.user_id,
                    "version": table.c.version + 1,
                }
            )
        )
        try:
            result = conn.execute(stmt, batch if len(batch) > 1 else batch[0])
        except IntegrityError as exc:
            raise Conflict(f"the database refused the write: {exc.orig}") from exc
        # rows are locked (PostgreSQL) or the database is (SQLite): a miss is a concurrent change
        counted = conn.dialect.supports_sane_multi_rowcount or len(batch) == 1
        if counted and result.rowcount != len(batch):
            raise Conflict(f"{name} {batch[0]['_rid']} was changed concurrently; reload and retry")


def _relink(conn, lt, ids, datas, name) -> None:
    """Replace the links of a many-to-many field on the records whose body names it."""
    for rid, data in zip(ids, datas, strict=True):
        if name not in data:
            continue
        conn.execute(lt.delete().where(lt.c.source_id == rid))
        links = [{"source_id": rid, "target_id": t} for t in sorted(set(data[name] or []))]
        if links:
            conn.execute(lt.insert(), links)
