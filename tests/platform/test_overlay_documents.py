"""Whole documents in a tenant's overlay (roles, pipelines, views...) replace the
packages' of the same name, live for the next request, through the same one-transaction
path as fields: what the designer's role matrix and stage editor write."""

import yaml

from metacrm.default_app import PACKAGE_DIR
from tests.conftest import user


def test_a_role_replaced_in_the_overlay_applies_at_once(env):
    _, rita = user(env, "rita", ["sales_rep"])
    acme = rita.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    deal = rita.post("/api/v1/records/opportunity", json={"name": "D", "account": acme}).json
    role = yaml.safe_load((PACKAGE_DIR / "roles" / "sales_rep.yaml").read_text())
    role["entities"]["opportunity"]["actions"] = ["create", "read", "update"]  # no delete

    def mutate(overlay):
        overlay.setdefault("documents", {}).setdefault("role", {})["sales_rep"] = role
        return overlay

    env.runtime.tenants.update_overlay("default", mutate)
    refused = rita.delete(f"/api/v1/records/opportunity/{deal['id']}")
    assert refused.status_code == 403
    assert rita.get(f"/api/v1/records/opportunity/{deal['id']}").status_code == 200
