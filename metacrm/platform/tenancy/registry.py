"""Tenants: a control database that lists them, and each tenant's live state.

A tenant's state is its engine plus the model compiled from the packages and
its overlay, and the tables built from that model. States are replaced whole
(never mutated) when the overlay changes, so requests in flight keep a
consistent view. Every `state()` call reads the newest applied version (one
indexed read of `_meta_versions`), so a request, job or command that starts
after a metadata change committed sees it, in every process.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    inspect,
    select,
)

from metacrm.expressions import Registry
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.model import Model
from metacrm.platform.db import database, migrations
from metacrm.platform.db import tables as tbl
from metacrm.platform.db.patches import Patch, add_column_if_missing, apply_patches, patches_table
from metacrm.platform.settings import Settings
from metacrm.platform.tenancy.overlay_conflicts import Conflict, reconcile, without

CONTROL_PATCHES = (
    Patch(
        "control.tenants_timezone",
        lambda conn: add_column_if_missing(
            conn, "tenants", Column("timezone", String(64), nullable=False, server_default="UTC")
        ),
        "what today() and now() mean for each tenant",
    ),
)


class TenantOwner(Protocol):
    """What the registry needs of the runtime that owns it (the runtime is a layer up)."""

    settings: Settings
    registry: Registry
    jobs: Any

    def compile(self, overlay: dict | None) -> Model: ...

    def formula_filler(self, timezone: str) -> migrations.FormulaFiller: ...

    @property
    def system_schema(self) -> migrations.SystemSchema: ...


control_metadata = MetaData()
control_patches = patches_table(control_metadata)
tenants_table = Table(
    "tenants",
    control_metadata,
    Column("name", String(31), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
)


job_progress_table = Table(  # progress of long jobs, written beside (not inside) their work
    "job_progress",
    control_metadata,
    Column("tenant", String(31), primary_key=True),
    Column("job", String(60), primary_key=True),
    Column("done", Integer, nullable=False),
    Column("total", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class UnknownTenant(LookupError):
    pass


class TenantNeedsMigration(RuntimeError):
    pass


@dataclass
class TenantState:
    name: str
    engine: Engine
    model: Model
    tables: dict[str, Table]
    system: dict[str, Table]
    overlay: dict
    version_id: int
    registry: Any = None  # the runtime's expression functions (built-ins + plugins)
    timezone: str = "UTC"  # what today() and now() mean for this tenant
    jobs: Any = None  # the runtime's Jobs: hands committed outbox events to their handlers
    cache: dict[Any, Any] = field(
        default_factory=dict
    )  # per-model derived objects (schemas, openapi)
    # overlay pieces the packages no longer accept (after an upgrade): set aside, kept
    conflicts: tuple[Conflict, ...] = ()

    @property
    def write(self) -> Engine:
        return database.write_engine(self.engine)


def _holds(overlay: dict, piece: tuple[str, ...]) -> bool:
    node: Any = overlay
    for key in piece[:-1] if piece[-1] == "settings" else piece:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def latest_overlay(conn, system) -> dict:
    t = system["overlay"]
    row = conn.execute(select(t.c.document).order_by(t.c.id.desc()).limit(1)).first()
    return copy.deepcopy(row.document) if row else {}


def _latest_version_id(conn, system) -> int:
    t = system["meta_versions"]
    return conn.execute(select(func.max(t.c.id))).scalar() or 0


# The applied metadata version and the "auth epoch" (what an access decision depends on:
# the audit log, where every token, role, manager and activation change is written, and
# the newest user, whose manager's team grows with them), in one statement.
_VERSIONS_SQL = (
    "SELECT (SELECT max(id) FROM _meta_versions), "
    "(SELECT max(id) FROM _audit_log), (SELECT max(id) FROM _users)"
)


class VersionReader:
    """Reads (metadata version, auth epoch) of one tenant, as cheaply as each back end allows.

    SQLite: a pooled DB-API connection in autocommit (~20 us). PostgreSQL: a checkout costs
    a reset round trip, so the process keeps one detached autocommit connection per tenant
    for this one statement (one round trip), shared under a lock and replaced if it breaks.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dedicated = engine.dialect.name == "postgresql"
        self.connection: Any = None  # PostgreSQL: the dedicated DB-API connection, once opened
        self._lock = threading.Lock()

    def read(self) -> tuple[int, tuple]:
        if not self.dedicated:
            raw = self.engine.raw_connection()
            try:
                return self._run(raw)
            finally:
                raw.close()
        with self._lock:
            for attempt in (1, 2):
                if self.connection is None:
                    raw = self.engine.raw_connection()
                    dbapi: Any = raw.dbapi_connection
                    dbapi.autocommit = True
                    raw.detach()  # ours for good: not returned (and reset) to the pool
                    self.connection = dbapi
                try:
                    return self._run(self.connection)
                except Exception:
                    self.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    @staticmethod
    def _run(raw) -> tuple[int, tuple]:
        cursor = raw.cursor()
        cursor.execute(_VERSIONS_SQL)
        meta, audit, users = cursor.fetchone()
        cursor.close()
        return meta or 0, (audit or 0, users or 0)

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


class TenantRegistry:
    """Owns the engines and states of every tenant of one runtime."""

    def __init__(self, runtime: TenantOwner):
        self.runtime = runtime
        self.settings = runtime.settings
        self.control = database.control_engine(self.settings)
        self._upgrade_control()
        self._engines: dict[str, Engine] = {}
        self._states: dict[str, TenantState] = {}
        self._versions: dict[str, VersionReader] = {}
        # (tenant, token digest) -> ((version, epoch), user, access): see state_and_epoch
        self.auth_cache: dict[tuple[str, str], tuple] = {}
        self._lock = threading.RLock()

    def _upgrade_control(self) -> None:
        """Create the control tables, or bring those of an earlier release up to date
        through the control database's own patch log."""
        with database.write_engine(self.control).begin() as conn:
            fresh = not inspect(conn).has_table("tenants")
            control_metadata.create_all(conn, checkfirst=True)
            apply_patches(conn, control_patches, CONTROL_PATCHES, fresh)

    def timezone(self, name: str) -> str:
        with self.control.connect() as conn:
            row = conn.execute(
                select(tenants_table.c.timezone).where(tenants_table.c.name == name)
            ).first()
        return row.timezone if row else self.settings.timezone

    # -- control database -------------------------------------------------
    def names(self) -> list[str]:
        with self.control.connect() as conn:
            return [
                r.name
                for r in conn.execute(select(tenants_table.c.name).order_by(tenants_table.c.name))
            ]

    def exists(self, name: str) -> bool:
        if name in self._states:
            return True
        with self.control.connect() as conn:
            return (
                conn.execute(
                    select(tenants_table.c.name).where(tenants_table.c.name == name)
                ).first()
                is not None
            )

    def engine(self, name: str, create: bool = False) -> Engine:
        with self._lock:
            if name not in self._engines:
                self._engines[name] = database.tenant_engine(self.settings, name, create=create)
            return self._engines[name]

    def create(
        self, name: str, applied_by: str | None = None, timezone: str | None = None
    ) -> TenantState:
        """Create the tenant's database/schema, its system tables and the base model's tables."""
        if not database.TENANT_NAME.match(name):
            raise ValueError(
                f"invalid tenant name {name!r}: use a-z, 0-9 and _, starting with a letter (max 31)"
            )
        timezone = timezone or self.settings.timezone
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {timezone!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
        engine = self.engine(name, create=True)
        model = self.runtime.compile({})
        with database.write_engine(engine).begin() as conn:
            migrations.sync_model(
                conn,
                model,
                applied_by=applied_by,
                fill_formulas=self.runtime.formula_filler(timezone),
                system_schema=self.runtime.system_schema,
            )
        with database.write_engine(self.control).begin() as conn:
            if (
                conn.execute(
                    select(tenants_table.c.name).where(tenants_table.c.name == name)
                ).first()
                is None
            ):
                conn.execute(
                    tenants_table.insert().values(
                        name=name, created_at=dt.datetime.now(dt.UTC), timezone=timezone
                    )
                )
        with self._lock:
            self._states.pop(name, None)
        return self.state(name)

    # -- live state ---------------------------------------------------------
    def _load(self, name: str) -> TenantState:
        if not self.exists(name):
            raise UnknownTenant(name)
        engine = self.engine(name)
        with database.write_engine(engine).begin() as conn:
            # tables and patches a newer release (of the platform or a plugin) added
            system = migrations.ensure_system_tables(conn, self.runtime.system_schema)
        with engine.connect() as conn:
            overlay = latest_overlay(conn, system)
            version_id = _latest_version_id(conn, system)
            applied = migrations.latest_version(conn, system)
        model, conflicts = reconcile(self.runtime.compile, overlay)
        if migrations.needs_sync(applied, model):
            # Packages (or how this code stores them) were upgraded since the last apply:
            # re-apply the overlay on the new base. Additive plans apply by themselves; refused ones wait
            # for `metacrm metadata apply`, and the tenant is not served meanwhile.
            try:
                with database.write_engine(engine).begin() as conn:
                    migrations.sync_model(
                        conn,
                        model,
                        applied_by="upgrade",
                        fill_formulas=self.runtime.formula_filler(self.timezone(name)),
                        system_schema=self.runtime.system_schema,
                    )
                    version_id = _latest_version_id(conn, system)
            except migrations.MigrationRefused as exc:
                raise TenantNeedsMigration(f"tenant '{name}': {exc}") from exc
        _, tables = tbl.model_tables(model)
        return TenantState(
            name,
            engine,
            model,
            tables,
            system,
            overlay,
            version_id,
            self.runtime.registry,
            self.timezone(name),
            self.runtime.jobs,
            conflicts=conflicts,
        )

    def state(self, name: str) -> TenantState:
        """The tenant's live state, reloaded when another process applied a newer version.

        Costs one indexed read (`max(id)` of `_meta_versions`) per call: callers take
        it once per request or job, never per record.
        """
        return self.state_and_epoch(name)[0]

    def state_and_epoch(self, name: str) -> tuple[TenantState, tuple]:
        """The live state and the tenant's auth epoch as of now (see _VERSIONS_SQL):
        per-process caches of who a token is and what they may do stay valid while the
        epoch and the metadata version stay the same."""
        state = self._states.get(name)
        if state is not None:
            version, epoch = self._versions_of(name, state.engine)
            if version == state.version_id:
                return state, epoch
        with self._lock:
            current = self._states.get(name)
            if current is None or current is state:  # else another thread reloaded it
                current = self._load(name)
                self._states[name] = current
        return current, self._versions_of(name, current.engine)[1]

    def _versions_of(self, name: str, engine: Engine) -> tuple[int, tuple]:
        reader = self._versions.get(name)
        if reader is None or reader.engine is not engine:
            reader = self._versions.setdefault(name, VersionReader(engine))
        return reader.read()

    def update_overlay(self, name: str, mutate, actor_id: int | None = None, dry_run: bool = False):
        """Apply `mutate(overlay) -> overlay` through compile + schema sync, in one transaction.

        Returns (state, plan). Raises MetadataInvalid or MigrationRefused with nothing written.
        """
        with self._lock:
            state = self.state(name)
            with state.write.connect() as conn:
                transaction = conn.begin()
                try:
                    current = latest_overlay(conn, state.system)
                    new_overlay = mutate(copy.deepcopy(current))
                    model, conflicts = self._compile_edit(new_overlay, state.conflicts)
                    _, tables = tbl.model_tables(model)
                    plan = migrations.sync_model(
                        conn,
                        model,
                        applied_by=f"user:{actor_id}" if actor_id else None,
                        dry_run=dry_run,
                        tables=tables,
                        fill_formulas=self.runtime.formula_filler(state.timezone),
                        system_schema=self.runtime.system_schema,
                    )
                    if dry_run:
                        transaction.rollback()
                        return state, plan
                    conn.execute(
                        state.system["overlay"]
                        .insert()
                        .values(
                            document=new_overlay,
                            created_at=dt.datetime.now(dt.UTC),
                            created_by=actor_id,
                        )
                    )
                    version_id = _latest_version_id(conn, state.system)
                    transaction.commit()
                except BaseException:
                    if transaction.is_active:
                        transaction.rollback()
                    raise
            new_state = TenantState(
                name,
                state.engine,
                model,
                tables,
                state.system,
                new_overlay,
                version_id,
                state.registry,
                state.timezone,
                state.jobs,
                conflicts=conflicts,
            )
            self._states[name] = new_state
            return new_state, plan

    def _compile_edit(self, overlay: dict, conflicts: tuple[Conflict, ...]):
        """An edited overlay's model. Pieces already set aside after an upgrade stay aside
        (an edit elsewhere is not blocked by them); anything else wrong refuses the edit.
        A piece the edit fixed (or removed) is a conflict no more."""
        try:
            return self.runtime.compile(overlay), ()
        except MetadataInvalid:
            if not conflicts:
                raise
        still = [c for c in conflicts if _holds(overlay, c.piece)]
        model = self.runtime.compile(without(overlay, [c.piece for c in still]))
        return model, tuple(still)

    def dispose(self) -> None:
        for reader in self._versions.values():
            reader.close()
        for engine in self._engines.values():
            engine.dispose()
        self.control.dispose()
