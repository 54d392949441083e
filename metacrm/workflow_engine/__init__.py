"""Stage pipelines, approval flows, automations, assignment rules and pools.

Rule: may import the platform and metadata; attaches through plugin hooks
(record hooks, event handlers, blueprints), registered as a default plugin the
same way an outside plugin is.
"""

from __future__ import annotations

from metacrm.plugins.hookspecs import hookimpl


@hookimpl
def metacrm_event_handlers():
    from metacrm.workflow_engine.automations import HANDLER
    from metacrm.workflow_engine.outbound import HANDLERS

    return [HANDLER, *HANDLERS]


@hookimpl
def metacrm_register_blueprints(app, runtime):
    from metacrm.workflow_engine import approval_api, approval_screens, pool_api, pool_screens

    app.register_blueprint(approval_api.blueprint())
    app.register_blueprint(pool_api.blueprint())
    app.register_blueprint(approval_screens.blueprint())  # shown in form_engine's shell
    app.register_blueprint(pool_screens.blueprint())
    app.extensions.setdefault("metacrm_nav", []).extend([approval_screens.NAV, pool_screens.NAV])
    from metacrm.workflow_engine.approval_panel import record_panel, record_timeline

    app.extensions.setdefault("metacrm_record_panels", []).append(record_panel)
    app.extensions.setdefault("metacrm_timeline", []).append(record_timeline)
    from metacrm.workflow_engine.approval_simulation import simulate_approval

    app.extensions["metacrm_simulate_approval"] = simulate_approval  # the designer's


@hookimpl
def metacrm_scheduled(runtime, state, now):
    from metacrm.workflow_engine.approval_timeouts import escalate_due
    from metacrm.workflow_engine.idle_alerts import check_idle
    from metacrm.workflow_engine.pool_recycle import recycle_due
    from metacrm.workflow_engine.scheduled_triggers import fire_due

    check_idle(state, now)
    escalate_due(runtime, state, now)
    recycle_due(runtime, state, now)
    fire_due(runtime, state, now)


@hookimpl
def metacrm_system_tables(metadata):
    from metacrm.workflow_engine.tables import workflow_tables

    return workflow_tables(metadata)
