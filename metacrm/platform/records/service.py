"""The record service: the one path for every write (API, UI, import, automations).

create/update/delete run: key checks -> defaults -> marshmallow validation ->
references and uniqueness -> plugin before_save -> auto numbers -> write, all in
one transaction; after_commit hooks run once it committed. A stale `version`
is a 409. Bulk creates use the same rules, batched, all-or-nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from metacrm.platform.db import locks
from metacrm.platform.errors import Forbidden, RecordInvalid
from metacrm.platform.records import lifecycle
from metacrm.platform.records.core import MAX_BULK
from metacrm.platform.records.updates import RecordUpdater
from metacrm.platform.records.writer import RecordWriter


class RecordService(RecordWriter, RecordUpdater):
    """The one path for every write and read of records (API, screens, import, jobs)."""

    def create(self, entity_name: str, body: Any) -> dict:
        return self.create_records(entity_name, [body], bulk=False)[0]

    def create_many(self, entity_name: str, bodies: list) -> list[dict]:
        if len(bodies) > MAX_BULK:
            raise RecordInvalid(f"at most {MAX_BULK} records per request ({len(bodies)} sent)")
        if not bodies:
            raise RecordInvalid("the list of records is empty")
        return self.create_records(entity_name, bodies, bulk=True)

    def update(
        self, entity_name: str, record_id: int, body: Any, conn: Connection | None = None
    ) -> dict:
        return self._update_records(entity_name, [(record_id, body)], conn, bulk=False)[0]

    def update_many(
        self, entity_name: str, items: list[tuple[int, Any]], conn: Connection | None = None
    ) -> list[dict]:
        """Partial updates of many records, all-or-nothing; errors name the item's index."""
        if len(items) > MAX_BULK:
            raise RecordInvalid(f"at most {MAX_BULK} records per request ({len(items)} sent)")
        if not items:
            return []
        return self._update_records(entity_name, items, conn, bulk=True)

    def reassign(self, entity_name: str, ids: list[int], owner_id: int) -> list[int]:
        """Give records to another user (a list's bulk "assign"; POST .../assign): every
        one must be a record this user may change and not locked; all or nothing.
        Returns the ids whose owner changed."""
        entity = self.entity(entity_name)
        self.require(entity, "update")
        users = self.state.system["users"]
        with self.state.write.begin() as conn:
            active = conn.execute(
                select(users.c.id).where(users.c.id == owner_id, users.c.is_active.is_(True))
            ).first()
            if active is None:
                raise RecordInvalid(
                    f"no active user with id {owner_id}",
                    [{"field": "owner", "message": "no such active user"}],
                )
            found = self.writable_rows(conn, entity, ids)
            refused = [i for i in ids if i not in found]
            if refused:
                raise Forbidden(f"you may not change {entity.name} {', '.join(map(str, refused))}")
            locks.ensure_unlocked(conn, self.state, self.context, entity.name, ids)
            changed = self.assign_owner(conn, entity.name, ids, owner_id)
        self._dispatch(owned=True)
        return sorted(changed)

    def delete(self, entity_name: str, record_id: int) -> None:
        entity = self.entity(entity_name)
        self.require(entity, "delete")
        with self.state.write.begin() as conn:
            self.writable_row(conn, entity, record_id, for_delete=True)
            previous = self.get(entity_name, record_id, conn)
            lifecycle.soft_delete(self, conn, entity, [record_id], path=[])
            payload = {"actor": self.context.user_id}
            self.record_events(conn, entity, "record.deleted", [(record_id, payload)])
        self._dispatch(owned=True)
        self._hook(
            "metacrm_after_commit",
            entity=entity,
            record=None,
            previous=previous,
            operation="delete",
            context=self.context,
        )
