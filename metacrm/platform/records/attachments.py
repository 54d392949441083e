"""Files: an upload, who may read it, and what an attachment field holds.

A file is stored once, in the tenant's own `_files` table (tenant isolation is as
physical as for records). Its uploader may read it and attach it. Once a record's
field holds it (`_file_links`), whoever may read that field of that record may read
it, and attach it elsewhere (a merge copies it). Anyone else gets a 404, exactly as
for a file that does not exist. A part of the record service (a mixin).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, delete, select, update

from metacrm.metadata.field_types import AttachmentType
from metacrm.metadata.model import Entity, Field
from metacrm.platform.access.permissions import scope_binds
from metacrm.platform.errors import NotFound, RecordInvalid
from metacrm.platform.records.validation import RecordValidation

MB = 1024 * 1024
MAX_NAME = 255
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")
# served inline (shown in the browser); anything else is a download
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)


def clean_name(name: str) -> str:
    """The file's own name: no directories a browser or client sent, no control characters."""
    name = _UNSAFE_NAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) < 16 else ""
        name = name[: MAX_NAME - len(keep) - 1] + ("." + keep if keep else "")
    return name or "file"


def content_type_of(name: str) -> str:
    """Decided by the server from the name: what a client claims is not trusted."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def size_text(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    return f"{max(1, round(size / 1024))} KB" if size >= 1024 else f"{size} bytes"


def accepts(accept: tuple[str, ...], name: str, content_type: str) -> bool:
    """HTML `accept` semantics: `.pdf` (an extension), `image/*`, `application/pdf`."""
    if not accept:
        return True
    lower = name.lower()
    for rule in (a.strip().lower() for a in accept):
        if rule.startswith("."):
            if lower.endswith(rule):
                return True
        elif rule.endswith("/*"):
            if content_type.startswith(rule[:-1]):
                return True
        elif rule == content_type:
            return True
    return False


def spec_problem(field: Field, descriptor: dict) -> str | None:
    """Why `field` cannot hold this file (its size limit, its accepted types), or None."""
    spec = field.spec
    if descriptor["size"] > spec.max_size_mb * MB:
        return (
            f"{descriptor['name']} is {size_text(descriptor['size'])}; "
            f"this field takes files of at most {spec.max_size_mb} MB"
        )
    if not accepts(spec.accept, descriptor["name"], descriptor["content_type"]):
        return f"{descriptor['name']} is not an accepted type (accepted: {', '.join(spec.accept)})"
    return None


def descriptor_of(row) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "size": row.size,
        "content_type": row.content_type,
    }


def attachment_fields(entity: Entity) -> list[Field]:
    return [f for f in entity.fields.values() if isinstance(f.kind, AttachmentType)]


class RecordAttachments(RecordValidation):
    def _file_columns(self):
        t = self.state.system["files"]
        return (t.c.id, t.c.name, t.c.size, t.c.content_type, t.c.uploaded_by, t.c.sha256)

    def upload_file(
        self,
        name: str,
        content: bytes,
        entity_name: str | None = None,
        field_name: str | None = None,
    ) -> dict:
        """Store an upload; with an entity and field, refuse what that field would refuse
        (so a form says so now, not at save)."""
        field = None
        if entity_name or field_name:
            entity = self.entity(entity_name or "")
            self.require(entity, "read")
            field = entity.fields.get(field_name or "")
            if field is None or not isinstance(field.kind, AttachmentType):
                known = [f.name for f in attachment_fields(entity)]
                raise RecordInvalid(
                    f"{entity.name} has no attachment field '{field_name}'",
                    [
                        {
                            "field": "field",
                            "message": f"attachment fields: {', '.join(known) or 'none'}",
                        }
                    ],
                )
        name = clean_name(name)
        if not content:
            raise RecordInvalid(
                f"{name} is empty", [{"field": "file", "message": "the file is empty"}]
            )
        row: dict[str, Any] = {
            "name": name,
            "content_type": content_type_of(name),
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        if field is not None:
            problem = spec_problem(field, row)
            if problem:
                raise RecordInvalid(problem, [{"field": field.name, "message": problem}])
        table = self.state.system["files"]
        with self.state.write.begin() as conn:
            file_id = conn.execute(
                table.insert()
                .values(
                    **row,
                    content=content,
                    uploaded_by=self.context.user_id,
                    uploaded_at=self.context.now,
                )
                .returning(table.c.id)
            ).scalar_one()
        return {"id": file_id, **{k: row[k] for k in ("name", "size", "content_type")}}

    def read_file(self, file_id: int) -> tuple[dict, str, bytes]:
        """(descriptor, sha256, content) of a file this user may read; 404 otherwise."""
        table = self.state.system["files"]
        with self.state.engine.connect() as conn:
            row = conn.execute(
                select(*self._file_columns(), table.c.content).where(table.c.id == file_id)
            ).first()
            if row is None or file_id not in self._readable_files(conn, {row.id: row.uploaded_by}):
                raise NotFound(f"no file with id {file_id}")
        return descriptor_of(row), row.sha256, row.content

    def _readable_files(self, conn: Connection, uploaders: dict[int, int | None]) -> set[int]:
        """Which of these files (id -> uploader) this user may read: their own uploads, and
        files held by a record field they may read."""
        readable = {fid for fid, by in uploaders.items() if by == self.context.user_id}
        rest = sorted(set(uploaders) - readable)
        if not rest:
            return readable
        links = self.state.system["file_links"]
        held: dict[str, list] = defaultdict(list)
        for link in conn.execute(select(links).where(links.c.file_id.in_(rest))):
            entity = self.model.entities.get(link.entity)
            if entity is None or not self.grant(entity).can("read"):
                continue
            if link.field in self.columns(entity):
                held[entity.name].append(link)
        for name, group in held.items():
            ids = sorted({link.record_id for link in group})
            seen = {
                r[0]
                for r in conn.execute(
                    self._exists_query(name), {"ids": ids, **scope_binds(self.context.access)}
                )
            }
            readable |= {link.file_id for link in group if link.record_id in seen}
        return readable

    def _check_attachments(
        self, conn: Connection, entity: Entity, items: list[tuple[int | None, dict]], errors: list
    ) -> None:
        """File ids -> descriptors, each file one this user may read and the field takes."""
        present = [
            (index, data, f)
            for f in attachment_fields(entity)
            for index, data in items
            if data.get(f.name) is not None
        ]
        wanted = sorted({fid for _, data, f in present for fid in data[f.name]})
        if not wanted:
            for _, data, f in present:
                data[f.name] = None
            return
        table = self.state.system["files"]
        rows = {
            r.id: r
            for r in conn.execute(select(*self._file_columns()).where(table.c.id.in_(wanted)))
        }
        readable = self._readable_files(conn, {r.id: r.uploaded_by for r in rows.values()})
        for index, data, f in present:
            descriptors = []
            for fid in data[f.name]:
                if fid in rows and fid in readable:
                    descriptor = descriptor_of(rows[fid])
                    problem = spec_problem(f, descriptor)
                else:
                    problem = f"no file with id {fid}"
                if problem:
                    err: dict[str, Any] = {"field": f.name, "message": problem}
                    if index is not None:
                        err["index"] = index
                    errors.append(err)
                else:
                    descriptors.append(descriptor)
            if not descriptors:
                data[f.name] = None
            else:
                data[f.name] = descriptors if f.spec.multiple else descriptors[0]

    def _link_files(
        self, conn: Connection, entity: Entity, ids: list[int], datas: list[dict]
    ) -> None:
        """Record which files each written attachment field now holds."""
        links = self.state.system["file_links"]
        for f in attachment_fields(entity):
            written = [
                (rid, data[f.name]) for rid, data in zip(ids, datas, strict=True) if f.name in data
            ]
            if not written:
                continue
            conn.execute(
                delete(links).where(
                    links.c.entity == entity.name,
                    links.c.field == f.name,
                    links.c.record_id.in_([rid for rid, _ in written]),
                )
            )
            rows = [
                {"file_id": d["id"], "entity": entity.name, "record_id": rid, "field": f.name}
                for rid, value in written
                for d in (value if isinstance(value, list) else [value] if value else [])
            ]
            if rows:
                conn.execute(links.insert(), rows)
                files = self.state.system["files"]
                conn.execute(
                    update(files)
                    .where(
                        files.c.id.in_(sorted({r["file_id"] for r in rows})),
                        files.c.attached_at.is_(None),
                    )
                    .values(attached_at=self.context.now)
                )


UNATTACHED_KEPT = dt.timedelta(hours=24)


def prune_unattached(state, now: dt.datetime) -> int:
    """Delete uploads no record ever held, a day after they came (a form refused and
    left, a client that uploaded and never wrote). A file a record held once is kept."""
    files = state.system["files"]
    with state.write.begin() as conn:
        return conn.execute(
            delete(files).where(
                files.c.attached_at.is_(None), files.c.uploaded_at < now - UNATTACHED_KEPT
            )
        ).rowcount
