"""A client generated from the OpenAPI document (openapi-python-client) is natural to use:
one request and one response type per operation (bulk create is its own), `field__op`
filters and `q` as keywords, a 422 as a Problem with its errors."""

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.conftest import env_fixture
from tests.screens.conftest import serve

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def test_crud_filters_bulk_and_a_422_through_a_generated_client(tmp_path):
    gen = serve(env_fixture(tmp_path / "app", "sqlite"))
    env, base = next(gen)
    try:
        spec = tmp_path / "openapi.json"
        spec.write_text(json.dumps(env.api.get("/api/v1/openapi.json").json))
        made = subprocess.run(
            [
                str(GENERATOR),
                "generate",
                "--path",
                str(spec),
                "--meta",
                "none",
                "--output-path",
                str(tmp_path / "crm_client"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert (tmp_path / "crm_client" / "client.py").exists(), made.stdout + made.stderr
        sys.path.insert(0, str(tmp_path))
        from crm_client import AuthenticatedClient
        from crm_client.api.accounts import (
            create_account,
            create_account_bulk,
            delete_account,
            get_account,
            list_account,
            update_account,
        )
        from crm_client.models import AccountInput, AccountInputIndustry, AccountPatch

        client = AuthenticatedClient(base_url=f"{base}/api/v1", token=env.api.token)
        acme = create_account.sync(
            client=client, body=AccountInput(name="Acme", industry=AccountInputIndustry.RETAIL)
        )
        assert acme.name == "Acme" and acme.id > 0
        assert get_account.sync(acme.id, client=client).industry == "retail"
        renamed = update_account.sync(acme.id, client=client, body=AccountPatch(name="Acme Ltd"))
        assert renamed.name == "Acme Ltd"

        bulk = create_account_bulk.sync(
            client=client,
            body=[
                AccountInput(name="Bolt", industry=AccountInputIndustry.ENERGY),
                AccountInput(name="Core", industry=AccountInputIndustry.FINANCE),
            ],
        )
        assert bulk.count == 2 and [a.name for a in bulk.data] == ["Bolt", "Core"]

        listed = list_account.sync(client=client, industry_in=["energy", "retail"], sort="name")
        assert [a.name for a in listed.data] == ["Acme Ltd", "Bolt"]
        assert [a.name for a in list_account.sync(client=client, name_ne="Bolt", q="co").data] == [
            "Core"
        ]

        # money is a string with format: decimal both ways (a JSON number is still taken)
        from crm_client.api.opportunities import create_opportunity, list_opportunity
        from crm_client.models import OpportunityInput

        deal = create_opportunity.sync(
            client=client,
            body=OpportunityInput(name="Fit-out", account=bulk.data[0].id, amount="1200.5"),
        )
        assert deal.amount == "1200.50" and Decimal(deal.amount) == Decimal("1200.5")
        counted = create_opportunity.sync(
            client=client,
            body=OpportunityInput(name="Spare", account=bulk.data[0].id, amount=99.99),
        )
        assert counted.amount == "99.99"
        big = list_opportunity.sync(client=client, amount_gte="1000")  # text, like amounts
        assert [d.name for d in big.data] == ["Fit-out"]

        refused = create_account.sync_detailed(client=client, body=AccountInput(name="x" * 1000))
        assert refused.status_code == 422
        assert refused.parsed.errors[0].field == "name"
        assert delete_account.sync_detailed(acme.id, client=client).status_code == 204
    finally:
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
        next(gen, None)
