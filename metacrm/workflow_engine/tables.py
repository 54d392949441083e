"""The workflow engine's own tables (approvals, pools, assignment, time triggers, idle
alerts): declared here, added to every tenant's system tables through the
`metacrm_system_tables` hook, upgraded by the engine's own patches."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from metacrm.platform.db.tables import ID, JSON_TYPE, TZ_DATETIME


def workflow_tables(metadata: MetaData) -> dict[str, Table]:
    return {
        "stage_alerts": Table(  # idle alerts sent, one per stage visit at most
            "_stage_alerts",
            metadata,
            Column("history_id", BigInteger, primary_key=True),
            Column("alerted_at", TZ_DATETIME, nullable=False),
        ),
        "approvals": Table(  # one request to approve one record by one flow
            "_approvals",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("flow", String(63), nullable=False),
            Column("entity", String(63), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("status", String(12), nullable=False),  # pending|approved|rejected|recalled
            Column("step", Integer),  # index of the current step while pending
            Column("submitted_by", BigInteger, nullable=False),
            Column("submitted_at", TZ_DATETIME, nullable=False),
            Column("decided_at", TZ_DATETIME),
            Column("version", Integer, nullable=False, server_default="1"),
            Index("ix__approvals_record", "entity", "record_id"),
            Index("ix__approvals_status", "status"),
        ),
        "approval_tasks": Table(  # one approver's part of one step
            "_approval_tasks",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("approval_id", BigInteger, nullable=False),
            Column("step", Integer, nullable=False),
            Column("user_id", BigInteger, nullable=False),
            # pending|approved|rejected|delegated|escalated|cancelled
            Column("status", String(12), nullable=False),
            Column("delegated_from", BigInteger),
            Column("escalated_from", BigInteger),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("due_at", TZ_DATETIME),
            Column("acted_at", TZ_DATETIME),
            Column("comment", Text),
            Index("ix__approval_tasks_user", "user_id", "status"),
            Index("ix__approval_tasks_approval", "approval_id"),
            Index("ix__approval_tasks_due", "status", "due_at"),
        ),
        "approval_log": Table(  # the audit trail of every approval request
            "_approval_log",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("approval_id", BigInteger, nullable=False),
            Column("at", TZ_DATETIME, nullable=False),
            Column("user_id", BigInteger),
            Column("action", String(20), nullable=False),
            Column("step", Integer),
            Column("comment", Text),
            Column("detail", JSON_TYPE),
            Index("ix__approval_log_approval", "approval_id"),
        ),
        "pool_records": Table(  # unowned records waiting in a pool (workflow_engine.pools)
            "_pool_records",
            metadata,
            Column("entity", String(63), primary_key=True),
            Column("record_id", BigInteger, primary_key=True),
            Column("pool", String(63), nullable=False),
            Column("since", TZ_DATETIME, nullable=False),
            Column("returned_by", BigInteger),
            Column("reason", String(200)),
            Index("ix__pool_records_pool", "pool", "record_id"),
        ),
        "pool_log": Table(  # claims, returns, transfers, recycles: history and daily caps
            "_pool_log",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("pool", String(63), nullable=False),
            Column("entity", String(63), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("action", String(12), nullable=False),  # claim|return|transfer|recycle
            Column("user_id", BigInteger),
            Column("reason", String(200)),
            Column("at", TZ_DATETIME, nullable=False),
            Index("ix__pool_log_user", "user_id", "action", "at"),
            Index("ix__pool_log_record", "entity", "record_id"),
        ),
        "pool_warnings": Table(  # recycle warnings sent, one per rule and record at a time
            "_pool_warnings",
            metadata,
            Column("entity", String(63), primary_key=True),
            Column("record_id", BigInteger, primary_key=True),
            Column("rule", String(130), primary_key=True),
            Column("since_value", String(40), nullable=False),  # warned for this idle spell
            Column("warned_at", TZ_DATETIME, nullable=False),
        ),
        "assign_cursors": Table(  # round-robin assignment: who got the last record
            "_assign_cursors",
            metadata,
            Column("key", String(200), primary_key=True),
            Column("last_user", BigInteger, nullable=False),
        ),
        "automation_fires": Table(  # date/cron automations: what fired already (once each)
            "_automation_fires",
            metadata,
            Column("automation", String(63), primary_key=True),
            Column("record_id", BigInteger, primary_key=True),
            Column("fire_key", String(40), primary_key=True),  # the date or the cron tick
            Column("fired_at", TZ_DATETIME, nullable=False),
        ),
    }
