"""Comments on a record: whoever may read the record may read its comments and add
one; an author may delete their own (an administrator any). They are not record
fields: a comment changes neither the record's version nor its history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from metacrm.platform.errors import Forbidden, NotFound, RecordInvalid
from metacrm.platform.records.service import RecordService
from metacrm.platform.timestamps import rfc3339

MAX_LENGTH = 10_000
LIMIT = 200


def add(service: RecordService, entity_name: str, record_id: int, body: Any) -> dict:
    entity = service.entity(entity_name)
    service.get(entity.name, record_id)  # 404 unless this user may read it
    text = body.strip() if isinstance(body, str) else ""
    problem = None
    if not text:
        problem = "write something"
    elif len(text) > MAX_LENGTH:
        problem = f"at most {MAX_LENGTH} characters"
    elif "\x00" in text:
        problem = "must not contain NUL characters"
    if problem:
        raise RecordInvalid(f"the comment {problem}", [{"field": "body", "message": problem}])
    table = service.state.system["comments"]
    ctx = service.context
    with service.state.write.begin() as conn:
        comment_id = conn.execute(
            table.insert()
            .values(
                entity=entity.name,
                record_id=record_id,
                body=text,
                author_id=ctx.user_id,
                created_at=ctx.now,
            )
            .returning(table.c.id)
        ).scalar_one()
    return {
        "id": comment_id,
        "body": text,
        "author_id": ctx.user_id,
        "author": ctx.username,
        "created_at": rfc3339(ctx.now),
    }


def listed(service: RecordService, entity_name: str, record_id: int) -> list[dict]:
    """The record's comments, newest first, with their authors' names."""
    entity = service.entity(entity_name)
    service.get(entity.name, record_id)
    table, users = service.state.system["comments"], service.state.system["users"]
    with service.state.engine.connect() as conn:
        rows = conn.execute(
            select(table, users.c.username)
            .outerjoin(users, users.c.id == table.c.author_id)
            .where(table.c.entity == entity.name, table.c.record_id == record_id)
            .order_by(table.c.id.desc())
            .limit(LIMIT)
        ).all()
    return [
        {
            "id": r.id,
            "body": r.body,
            "author_id": r.author_id,
            "author": r.username,
            "created_at": rfc3339(r.created_at),
        }
        for r in rows
    ]


def remove(service: RecordService, entity_name: str, record_id: int, comment_id: int) -> None:
    entity = service.entity(entity_name)
    service.get(entity.name, record_id)
    table = service.state.system["comments"]
    ctx = service.context
    with service.state.write.begin() as conn:
        row = conn.execute(
            select(table.c.author_id).where(
                table.c.id == comment_id,
                table.c.entity == entity.name,
                table.c.record_id == record_id,
            )
        ).first()
        if row is None:
            raise NotFound(f"no comment {comment_id} on {entity.name} {record_id}")
        if row.author_id != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only its author (or an administrator) may delete a comment")
        conn.execute(delete(table).where(table.c.id == comment_id))
