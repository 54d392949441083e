"""Pools (`pools/*.yaml`): shared queues of unowned records (lead pool, public customer pool).

A pooled record has no owner and a row in `_pool_records`. Claiming is one
conditional UPDATE (`owner_id IS NULL` and still in this pool), so two people
never get the same record; a member's claims are serialized (their user row is
locked on PostgreSQL; SQLite has one writer) so holding limits and daily caps
hold under concurrency. Every move is a line of `_pool_log`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, select, update

from metacrm.metadata.model import Entity, Pool
from metacrm.platform.db import audit, locks
from metacrm.platform.errors import Conflict, Forbidden, NotFound, RecordInvalid
from metacrm.platform.records.service import RecordService
from metacrm.platform.timestamps import rfc3339

MAX_IDS = 500


def _ids(body) -> list[int]:
    ids = body.get("ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > MAX_IDS
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise RecordInvalid(
            f'send {{"ids": [...]}}: 1 to {MAX_IDS} record ids',
            [{"field": "ids", "message": f"a list of 1-{MAX_IDS} ids"}],
        )
    return list(dict.fromkeys(ids))


class Pools:
    """Pool actions of one user (the service's context) in one tenant."""

    def __init__(self, service: RecordService):
        self.service = service
        self.state = service.state
        self.ctx = service.context
        self.t = service.state.system

    # -- who --------------------------------------------------------------------
    def _names(self, specs) -> bool:
        roles = set(self.ctx.access.roles)
        return any(
            (s.kind == "role" and s.value in roles)
            or (s.kind == "user" and s.value == self.ctx.username)
            for s in specs
        )

    def is_member(self, pool: Pool) -> bool:
        return self.ctx.is_admin or self._names(pool.members) or self._names(pool.managers)

    def is_manager(self, pool: Pool) -> bool:
        return self.ctx.is_admin or self._names(pool.managers)

    def pool(self, name: str) -> tuple[Pool, Entity]:
        pool = self.state.model.pools.get(name)
        if pool is None or not self.is_member(pool):
            raise NotFound(f"no pool '{name}'", known=self.visible())
        return pool, self.state.model.entities[pool.entity]

    def visible(self) -> list[str]:
        return sorted(n for n, p in self.state.model.pools.items() if self.is_member(p))

    def limits(self, pool: Pool) -> tuple[int | None, int | None]:
        """(max_held, daily_claims) for this user: the most generous of their roles."""
        held, daily = pool.max_held, pool.daily_claims
        for role in self.ctx.access.roles:
            extra = pool.limits_by_role.get(role, {})
            if "max_held" in extra:
                held = extra["max_held"] if held is None else max(held, extra["max_held"])
            if "daily_claims" in extra:
                d = extra["daily_claims"]
                daily = d if daily is None else max(daily, d)
        if self.ctx.is_admin:
            return None, None
        return held, daily

    # -- reading ----------------------------------------------------------------
    def records(self, name: str, limit: int = 50, after: int | None = None) -> dict:
        pool, entity = self.pool(name)
        table, members = self.state.tables[entity.name], self.t["pool_records"]
        grant = self.service.grant(entity)
        columns = [
            c
            for c in (pool.columns or ((entity.title_field,) if entity.title_field else ()))
            if grant.level(c) != "none"
        ]
        query = (
            select(
                table.c.id,
                *[table.c[c] for c in columns],
                members.c.since,
                members.c.reason,
            )
            .join(members, and_(members.c.record_id == table.c.id, members.c.entity == entity.name))
            .where(members.c.pool == pool.name, table.c.deleted_at.is_(None))
            .order_by(table.c.id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(table.c.id > after)
        with self.state.engine.connect() as conn:
            rows = conn.execute(query).all()
        data = [
            {
                "id": r.id,
                **{c: audit.to_json(getattr(r, c)) for c in columns},
                "in_pool_since": rfc3339(r.since),
                "return_reason": r.reason,
            }
            for r in rows[:limit]
        ]
        held, daily = self.limits(pool)
        return {
            "pool": pool.name,
            "entity": entity.name,
            "data": data,
            "next_cursor": data[-1]["id"] if len(rows) > limit else None,
            "limits": {"max_held": held, "daily_claims": daily},
        }

    # -- moving -----------------------------------------------------------------
    def _log(self, conn, pool: str, entity: str, ids, action: str, reason=None, user=None):
        conn.execute(
            insert(self.t["pool_log"]),
            [
                {
                    "pool": pool,
                    "entity": entity,
                    "record_id": rid,
                    "action": action,
                    "user_id": user if user is not None else self.ctx.user_id,
                    "reason": reason,
                    "at": self.ctx.now,
                }
                for rid in ids
            ],
        )

    def _start_of_day(self) -> dt.datetime:
        local = self.ctx.now.astimezone(ZoneInfo(self.state.timezone))
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)

    def usage(self, conn, pool: Pool, entity: Entity) -> tuple[int, int]:
        """(live records of the pool's entity I own, claims I made from the pool today)."""
        table, log, me = self.state.tables[entity.name], self.t["pool_log"], self.ctx.user_id
        held = conn.execute(
            select(func.count())
            .select_from(table)
            .where(table.c.owner_id == me, table.c.deleted_at.is_(None))
        ).scalar_one()
        today = conn.execute(
            select(func.count())
            .select_from(log)
            .where(
                log.c.user_id == me,
                log.c.action == "claim",
                log.c.pool == pool.name,
                log.c.at >= self._start_of_day(),
            )
        ).scalar_one()
        return held, today

    def claim(self, name: str, body) -> dict:
        pool, entity = self.pool(name)
        ids = _ids(body)
        if not self.service.grant(entity).can("read"):
            raise Forbidden(f"your roles do not grant {entity.name} records")
        table, members = self.state.tables[entity.name], self.t["pool_records"]
        users = self.t["users"]
        me = self.ctx.user_id
        max_held, daily = self.limits(pool)
        with self.state.write.begin() as conn:
            if conn.dialect.name == "postgresql":  # one claim at a time per member
                conn.execute(select(users.c.id).where(users.c.id == me).with_for_update())
            held, today = self.usage(conn, pool, entity)
            if max_held is not None and held + len(ids) > max_held:
                raise Conflict(
                    f"claim limit: you hold {held} {entity.name} record(s) of at most "
                    f"{max_held}; {len(ids)} more would exceed it",
                    limit="max_held",
                    held=held,
                    max_held=max_held,
                )
            if daily is not None and today + len(ids) > daily:
                raise Conflict(
                    f"daily claim cap: you claimed {today} of {daily} today from {pool.name}",
                    limit="daily_claims",
                    claimed_today=today,
                    daily_claims=daily,
                )
            in_pool = select(members.c.record_id).where(
                members.c.entity == entity.name, members.c.pool == pool.name
            )
            unowned_here = and_(
                table.c.owner_id.is_(None), table.c.id.in_(in_pool.scalar_subquery())
            )
            claimed = sorted(self.service.assign_owner(conn, entity.name, ids, me, unowned_here))
            if claimed:
                self._leave_pool(conn, entity, claimed)
                self._log(conn, pool.name, entity.name, claimed, "claim")
        self.service.dispatch_pending()
        return {"claimed": claimed, "unavailable": [i for i in ids if i not in claimed]}

    def _leave_pool(self, conn, entity: Entity, ids) -> None:
        members, warnings = self.t["pool_records"], self.t["pool_warnings"]
        for table in (members, warnings):
            conn.execute(
                delete(table).where(table.c.entity == entity.name, table.c.record_id.in_(ids))
            )

    def put(self, conn, pool: Pool, entity: Entity, ids, reason: str | None, action: str) -> None:
        """Unown `ids` and queue them in `pool` (inside the caller's transaction, which
        hands on the owner-change events once it committed: service.dispatch_pending)."""
        members = self.t["pool_records"]
        self.service.assign_owner(conn, entity.name, ids, None)
        self._leave_pool(conn, entity, ids)
        conn.execute(
            insert(members),
            [
                {
                    "entity": entity.name,
                    "record_id": rid,
                    "pool": pool.name,
                    "since": self.ctx.now,
                    "returned_by": self.ctx.user_id,
                    "reason": reason,
                }
                for rid in ids
            ],
        )
        self._log(conn, pool.name, entity.name, ids, action, reason)

    def return_(self, name: str, body) -> dict:
        """Give records back (a member: their own; a pool manager: anyone's readable ones)."""
        pool, entity = self.pool(name)
        ids = _ids(body)
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise RecordInvalid(
                "say why the records go back", [{"field": "reason", "message": "required text"}]
            )
        if pool.return_reasons and reason not in pool.return_reasons:
            raise RecordInvalid(
                f"'{reason}' is not a return reason of {pool.name}",
                [{"field": "reason", "message": f"one of {list(pool.return_reasons)}"}],
            )
        self.service.require(entity, "update")
        with self.state.write.begin() as conn:
            for rid in ids:
                raw = self.service.writable_row(
                    conn, entity, rid
                )  # 404/403 unless it may change it
                if raw["owner_id"] != self.ctx.user_id and not self.is_manager(pool):
                    raise Forbidden(f"{entity.name} {rid} is not yours to return")
            locks.ensure_unlocked(conn, self.state, self.ctx, entity.name, ids)
            self.put(conn, pool, entity, ids, reason.strip(), "return")
        self.service.dispatch_pending()
        return {"returned": ids, "pool": pool.name}

    def transfer(self, name: str, body) -> dict:
        """Move pooled records to another pool of the same entity (pool managers)."""
        pool, entity = self.pool(name)
        ids = _ids(body)
        target = (
            self.state.model.pools.get(body.get("to")) if isinstance(body.get("to"), str) else None
        )
        if target is None or target.entity != entity.name:
            raise RecordInvalid(
                "`to` names another pool of the same entity", [{"field": "to", "message": "a pool"}]
            )
        if not (self.is_manager(pool) and self.is_manager(target)):
            raise Forbidden("only managers of both pools move records between them")
        members = self.t["pool_records"]
        with self.state.write.begin() as conn:
            moved = conn.execute(
                update(members)
                .where(
                    members.c.entity == entity.name,
                    members.c.pool == pool.name,
                    members.c.record_id.in_(ids),
                )
                .values(pool=target.name, since=self.ctx.now, returned_by=self.ctx.user_id)
            ).rowcount
            if moved != len(ids):
                raise Conflict(f"only {moved} of the {len(ids)} records are in {pool.name}")
            self._log(conn, target.name, entity.name, ids, "transfer", f"from {pool.name}")
        return {"transferred": ids, "pool": target.name}
