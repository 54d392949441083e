"""Schemathesis against /api/v1/openapi.json: generated requests for every operation,
no 5xx and no response that violates the document."""

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import given as hgiven
from schemathesis import checks as sc

MAX_EXAMPLES = 8


def test_api_conforms_to_its_openapi_document(env):
    headers = {"Authorization": f"Bearer {env.api.token}"}
    env.api.post("/api/v1/records/account", json={"name": "Seed"})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", env.app, headers=headers)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @hgiven(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case):
            case.call_and_validate(
                headers=headers,
                checks=[
                    sc.not_a_server_error,
                    sc.status_code_conformance,
                    sc.content_type_conformance,
                    sc.response_schema_conformance,
                ],
            )

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
