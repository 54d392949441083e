"""Stage pipelines, approval flows, automations, assignment rules and pools.

Rule: may import the platform and metadata; attaches through plugin hooks
(record hooks, blueprints). Built by the workflow-engine issue.
"""
