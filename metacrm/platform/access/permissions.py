"""Who may do what: a user's roles merged into one Access, and the SQL that enforces scope.

Pure computation (`compute_access`) from the compiled roles; the record service
and the query engine apply it inside SQL (record scope as a WHERE condition,
hidden fields never selected), never by filtering results afterwards.
Deny by default: an entity no role grants is invisible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from sqlalchemy import bindparam, or_, select

from metacrm.metadata.model import Entity, Model

SCOPE_RANK = {"own": 0, "team": 1, "all": 2}
LEVEL_RANK = {"none": 0, "read": 1, "write": 2}
ALL_ACTIONS = frozenset({"create", "read", "update", "delete", "export"})


@dataclass(frozen=True)
class EntityAccess:
    actions: frozenset[str]
    scope: str = "all"
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_level: str = "write"

    def can(self, action: str) -> bool:
        return action in self.actions

    def level(self, name: str) -> str:
        return self.fields.get(name, self.default_level)

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(n for n, lvl in self.fields.items() if lvl == "none")


FULL = EntityAccess(ALL_ACTIONS, "all")
NOTHING = EntityAccess(frozenset(), "own", default_level="none")


@dataclass(frozen=True)
class Access:
    """One user's effective permissions in one tenant."""

    user_id: int | None
    is_admin: bool
    team: tuple[int, ...] = ()  # the user and everyone reporting to them, transitively
    heads: tuple[int, ...] = ()  # the user and everyone they report to: the teams they are in
    roles: tuple[str, ...] = ()
    entities: Mapping[str, EntityAccess] = field(default_factory=lambda: MappingProxyType({}))

    def entity(self, name: str) -> EntityAccess:
        if self.is_admin:
            return FULL
        return self.entities.get(name, NOTHING)


SYSTEM_ACCESS = Access(user_id=None, is_admin=True)


def compute_access(
    model: Model, role_names: list[str], user_id: int, is_admin: bool, team: tuple[int, ...]
) -> Access:
    roles = [model.roles[r] for r in role_names if r in model.roles]
    if is_admin or any(r.admin for r in roles):
        return Access(user_id, True, team, (), tuple(role_names))
    entities: dict[str, EntityAccess] = {}
    for entity in model.entities.values():
        actions: set[str] = set()
        scope_rank = -1
        levels: dict[str, int] = {}
        default_rank = -1
        for role in roles:
            grant = role.entities.get(entity.name) or role.entities.get("*")
            if grant is None or not grant.actions:
                continue
            actions |= grant.actions
            scope_rank = max(scope_rank, SCOPE_RANK[grant.scope or entity.scope])
            writes = bool(grant.actions & {"create", "update"})
            role_default = LEVEL_RANK["write" if writes else "read"]
            default_rank = max(default_rank, role_default)
            for name in entity.fields:
                rank = LEVEL_RANK[grant.fields.get(name, "write" if writes else "read")]
                levels[name] = max(levels.get(name, -1), rank)
        if not actions:
            continue
        names = {v: k for k, v in LEVEL_RANK.items()}
        default = names[default_rank]
        overrides = {n: names[r] for n, r in levels.items() if names[r] != default}
        scope = {v: k for k, v in SCOPE_RANK.items()}[scope_rank]
        entities[entity.name] = EntityAccess(
            frozenset(actions), scope, MappingProxyType(overrides), default
        )
    return Access(user_id, False, team, (), tuple(role_names), MappingProxyType(entities))


def team_of(user_id: int, managers: dict[int, int | None]) -> tuple[int, ...]:
    """`user_id` and everyone whose reporting line leads to them."""
    reports: dict[int, list[int]] = {}
    for uid, manager in managers.items():
        if manager is not None:
            reports.setdefault(manager, []).append(uid)
    out, stack = {user_id}, [user_id]
    while stack:
        for sub in reports.get(stack.pop(), ()):
            if sub not in out:
                out.add(sub)
                stack.append(sub)
    return tuple(sorted(out))


def load_access(state, user_id: int, is_admin: bool) -> Access:
    """Read the user's roles and reporting line from the tenant and compute their access."""
    if is_admin:
        return Access(user_id, True, (user_id,))
    user_roles, users = state.system["user_roles"], state.system["users"]
    with state.engine.connect() as conn:
        roles = [
            r[0]
            for r in conn.execute(select(user_roles.c.role).where(user_roles.c.user_id == user_id))
        ]
        managers = {
            r.id: r.manager_id for r in conn.execute(select(users.c.id, users.c.manager_id))
        }
    access = compute_access(state.model, sorted(roles), user_id, False, team_of(user_id, managers))
    return replace(access, heads=heads_of(user_id, managers))


def heads_of(user_id: int, managers: dict[int, int | None]) -> tuple[int, ...]:
    """`user_id` and their manager, their manager's manager, ... (loops are refused on write)."""
    out: list[int] = []
    current: int | None = user_id
    while current is not None and current not in out:
        out.append(current)
        current = managers.get(current)
    return tuple(out)


def scope_condition(
    state, entity: Entity, table, access: Access, for_write: bool = False, shares: bool = True
):
    """The WHERE condition for records the user may see (or change); None when unrestricted.

    Uses bound parameters `_uid` and `_team`, so statements can be cached per shape.
    """
    grant = access.entity(entity.name)
    if access.is_admin or grant.scope == "all":
        return None
    share_table, team_table = state.system["shares"], state.system["team_shares"]
    shared = select(share_table.c.record_id).where(
        share_table.c.entity == entity.name, share_table.c.user_id == bindparam("_uid")
    )
    team_shared = select(team_table.c.record_id).where(
        team_table.c.entity == entity.name,
        team_table.c.team_head_id.in_(bindparam("_heads", expanding=True)),
    )
    if for_write:
        shared = shared.where(share_table.c.access == "write")
        team_shared = team_shared.where(team_table.c.access == "write")
    visible = shared.union(team_shared)
    if grant.scope == "own":
        owned = table.c.owner_id == bindparam("_uid")
    else:
        owned = table.c.owner_id.in_(bindparam("_team", expanding=True))
    return or_(owned, table.c.id.in_(visible)) if shares else owned


class AccessScope:
    """An expression scope that only knows what the user may read."""

    def __init__(self, model: Model, entity: str, access: Access):
        from metacrm.metadata.scope import EntityScope

        self.inner = EntityScope(model, entity)
        self.access = access

    def resolve(self, path: tuple[str, ...]) -> str:
        steps = self.inner.walk(path)
        for entity, f, name in steps:
            grant = self.access.entity(entity.name)
            if not grant.can("read") or (f is not None and grant.level(name) == "none"):
                raise KeyError(f"unknown field '{'.'.join(path)}'")
        return self.inner.resolve(path)


def scope_binds(access: Access) -> dict:
    uid = access.user_id if access.user_id is not None else -1
    return {"_uid": uid, "_team": list(access.team) or [-1], "_heads": list(access.heads) or [-1]}
