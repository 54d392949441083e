"""CSV/XLSX import (dry run, all-or-nothing, skip-bad-rows, upsert) and export with permissions."""

import io

from openpyxl import Workbook, load_workbook

CSV = "name,industry,employees,tags,website\nAcme,retail,120,key;smb,https://acme.example.com\nBolt,energy,x,,\nCoda,aerospace,5,,\nDyna,finance,7,,\n"


def post(api, entity, data, **params):
    return api.client.post(
        f"/api/v1/import/{entity}",
        data=data.encode() if isinstance(data, str) else data,
        query_string=params,
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )


def names(api):
    return sorted(r["name"] for r in api.get("/api/v1/records/account").json["data"])


def test_all_or_nothing_reports_every_bad_row_and_writes_nothing(env):
    r = post(env.api, "account", CSV)
    assert r.status_code == 200, r.json
    assert r.json["created"] == 0 and r.json["total"] == 4 and r.json["skipped"] == 4
    assert [(e["row"], e["field"]) for e in r.json["errors"]] == [(2, "employees"), (3, "industry")]
    assert "Not a valid integer" in r.json["errors"][0]["message"]
    assert names(env.api) == []


def test_dry_run_and_skip_bad_rows(env):
    dry = post(env.api, "account", CSV, dry_run="true", mode="skip_bad_rows").json
    assert dry["dry_run"] is True and len(dry["errors"]) == 2 and names(env.api) == []
    r = post(env.api, "account", CSV, mode="skip_bad_rows").json
    assert (r["created"], r["skipped"]) == (2, 2)
    assert names(env.api) == ["Acme", "Dyna"]
    acme = env.api.get("/api/v1/records/account", query_string={"name": "Acme"}).json["data"][0]
    assert acme["tags"] == ["key", "smb"] and acme["employees"] == 120


def test_upsert_by_key_and_unknown_columns(env):
    post(env.api, "account", "name,employees\nAcme,1\nBolt,2\n")
    r = post(env.api, "account", "name,employees\nAcme,10\nCoda,3\n", key="name").json
    assert (r["created"], r["updated"], r["errors"]) == (1, 1, [])
    by_name = {
        x["name"]: x["employees"] for x in env.api.get("/api/v1/records/account").json["data"]
    }
    assert by_name == {"Acme": 10, "Bolt": 2, "Coda": 3}
    bad = post(env.api, "account", "name,shoe_size\nX,42\n").json
    assert bad["errors"] == [
        {
            "row": 1,
            "field": "shoe_size",
            "message": "unknown column 'shoe_size' (not a field of account)",
        }
    ]
    assert post(env.api, "account", "name\nX\n", key="tags").status_code == 400


def test_xlsx_import_and_export_round_trip(env):
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "employees", "industry"])
    sheet.append(["Acme", 12, "retail"])
    sheet.append(["Bolt", 3, None])
    out = io.BytesIO()
    book.save(out)
    r = env.api.client.post(
        "/api/v1/import/account",
        data={"file": (io.BytesIO(out.getvalue()), "accounts.xlsx")},
        headers={"Authorization": f"Bearer {env.api.token}"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200 and r.json["created"] == 2, r.json
    x = env.api.get(
        "/api/v1/export/account", query_string={"format": "xlsx", "filter": "employees > 5"}
    )
    assert x.status_code == 200
    rows = list(load_workbook(io.BytesIO(x.data)).active.iter_rows(values_only=True))
    header = rows[0]
    assert [dict(zip(header, row, strict=True))["name"] for row in rows[1:]] == ["Acme"]
    c = env.api.get("/api/v1/export/account")
    assert c.status_code == 200 and c.mimetype == "text/csv"
    text = c.data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id,version,") and "Bolt" in text


def test_export_needs_the_export_action_and_hides_fields(env):
    admin = env.api
    from tests.conftest import Api

    admin.post("/api/v1/records/account", json={"name": "Acme", "annual_revenue": 99})
    uid = admin.post(
        "/api/v1/admin/users",
        json={"username": "agent", "password": "agent-password", "roles": ["service_agent"]},
    ).json["id"]
    agent = Api(
        env.app.test_client(),
        admin.post(f"/api/v1/admin/users/{uid}/tokens", json={}).json["token"],
    )
    assert agent.get("/api/v1/export/account").status_code == 403  # may read, may not export
    admin.patch(f"/api/v1/admin/users/{uid}", json={"roles": ["account_manager", "service_agent"]})
    text = agent.get("/api/v1/export/account").data.decode("utf-8-sig")
    assert (
        "Acme" in text and "annual_revenue" in text.splitlines()[0]
    )  # account_manager may read it
    admin.patch(f"/api/v1/admin/users/{uid}", json={"roles": ["service_agent"]})
    assert post(agent, "account", "name\nX\n").status_code == 403  # no create right


def test_cli_import_and_export(tmp_path):
    from tests.platform.test_cli import run

    run(["init"], tmp_path)
    source = tmp_path / "leads.csv"
    source.write_text("last_name,company,status\nLi,Northwind,new\nWu,Contoso,bogus\n")
    bad = run(["import", "lead", str(source)], tmp_path, check=False)
    assert bad.returncode == 1 and "row 2: status: Must be one of" in bad.stderr
    ok = run(["import", "lead", str(source), "--skip-bad-rows"], tmp_path)
    assert "imported: 1 created, 0 updated, 1 skipped, 1 error(s) of 2 rows" in ok.stdout
    target = tmp_path / "out.csv"
    assert "exported 1 lead record(s)" in run(["export", "lead", str(target)], tmp_path).stdout
    assert "Northwind" in target.read_text(encoding="utf-8")


def test_a_crash_half_way_writes_nothing(env, monkeypatch):
    import pytest

    from metacrm.platform import transfer
    from metacrm.platform.context import Context
    from metacrm.platform.records import RecordService

    service = RecordService(env.state(), Context.system("default", 1), env.runtime.pm)
    rows = [{"name": f"A{i}"} for i in range(1500)]
    real = transfer.convert

    def failing(f, value):
        if value == "A1200":  # in the second batch, after the first batch was written
            raise RuntimeError("disk on fire")
        return real(f, value)

    monkeypatch.setattr(transfer, "convert", failing)
    with pytest.raises(RuntimeError):
        transfer.import_rows(service, "account", rows)
    assert names(env.api) == []


def lead_csv(rows: int, bad_every: int = 0) -> str:
    lines = ["last_name,company,email"]
    for i in range(rows):
        email = "not-an-email" if bad_every and i % bad_every == bad_every - 1 else f"l{i}@x.io"
        lines.append(f"Lead{i},Co {i},{email}")
    return "\n".join(lines) + "\n"


def count(api, entity):
    return api.get(f"/api/v1/records/{entity}", query_string={"with_total": "true"}).json["total"]


def test_background_import_is_a_job_with_progress_and_a_report(env):
    r = post(env.api, "account", CSV, background="true", mode="skip_bad_rows")
    assert r.status_code == 202, r.json
    assert r.headers["Location"] == f"/api/v1/imports/{r.json['id']}"
    status = env.api.get(r.headers["Location"]).json  # inline mode: already done
    assert status["status"] == "done" and status["total_rows"] == 4
    assert (status["processed_rows"], status["percent"]) == (4, 100)
    assert (status["report"]["created"], status["report"]["skipped"]) == (2, 2)
    assert [e["row"] for e in status["report"]["errors"]] == [2, 3]
    assert names(env.api) == ["Acme", "Dyna"]
    assert env.user_api.get(r.headers["Location"]).status_code == 404  # not theirs
    assert post(env.api, "account", b"\xff\xfe\x00bad", background="true").status_code == 400
    assert post(env.user_api, "account", CSV, background="true").status_code == 404  # no role


def test_background_import_progress_is_readable_while_it_runs(env):
    import threading

    done = threading.Event()
    seen = []

    def submit():
        seen.append(post(env.api, "lead", lead_csv(6000), background="true").json)
        done.set()

    thread = threading.Thread(target=submit)
    thread.start()
    state = env.runtime.tenant()
    imports = state.system["imports"]
    figures = set()
    while not done.is_set():
        with state.engine.connect() as conn:
            ids = conn.execute(imports.select().with_only_columns(imports.c.id)).scalars().all()
        if ids:
            figures.add(env.api.get(f"/api/v1/imports/{ids[0]}").json["processed_rows"])
        done.wait(0.005)
    thread.join()
    assert seen[0]["status"] == "done" and seen[0]["processed_rows"] == 6000
    assert figures & {1000, 2000, 3000, 4000, 5000}, figures  # seen between batches
    assert count(env.api, "lead") == 6000


def test_a_background_import_that_fails_half_way_resumes_without_duplicates(env, monkeypatch):
    from metacrm.platform import import_jobs

    real = import_jobs._write_progress

    def crash_after_two_batches(run, import_id, handled, total):
        real(run, import_id, handled, total)
        if handled >= 2000:
            raise RuntimeError("worker lost")

    monkeypatch.setattr(import_jobs, "_write_progress", crash_after_two_batches)
    r = post(
        env.api, "lead", lead_csv(2500, bad_every=500), background="true", mode="skip_bad_rows"
    )
    status = env.api.get(r.headers["Location"]).json
    assert status["status"] == "running" and status["processed_rows"] == 2000
    assert count(env.api, "lead") == 1996  # two batches committed (4 bad rows skipped)
    monkeypatch.setattr(import_jobs, "_write_progress", real)
    state = env.runtime.tenant()
    outbox = state.system["outbox"]
    with state.write.begin() as conn:
        conn.execute(outbox.update().values(next_attempt_at=None))  # the retry is due
    assert env.runtime.jobs.sweep(state) == 1
    status = env.api.get(r.headers["Location"]).json
    assert status["status"] == "done" and status["processed_rows"] == 2500
    report = status["report"]
    assert (report["total"], report["created"], report["skipped"]) == (2500, 2495, 5)
    assert [e["row"] for e in report["errors"]] == [500, 1000, 1500, 2000, 2500]
    assert count(env.api, "lead") == 2495  # nothing imported twice
