"""CSV/XLSX import (dry run, all-or-nothing, skip-bad-rows, upsert) and export with permissions."""

import io

import pytest
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
    assert r.status_code == 422, r.json  # refused: nothing was written
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
    extra = post(env.api, "account", "name,shoe_size\nX,42\nY,43\n")
    assert extra.status_code == 200 and extra.json["created"] == 2
    assert extra.json["errors"] == []  # reported once as ignored, not an error on every row
    assert extra.json["mapping"]["ignored"] == [
        {"column": "shoe_size", "reason": "not a field of account"}
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


def test_export_writes_formula_like_text_as_text_and_import_restores_it(env):
    """OWASP CSV injection: `=`, `+`, `-`, `@`, tab and CR never start a live formula."""
    api = env.api
    risky = {
        '=HYPERLINK("http://evil.example","x")': "+86 138 0013 8000",
        "@SUM(A1)": "-1",
        "'quoted": "=1+2",
    }
    for name, phone in risky.items():
        assert (
            api.post(
                "/api/v1/records/account", json={"name": name, "billing_city": phone}
            ).status_code
            == 201
        )
    text = api.get("/api/v1/export/account", query_string={"sort": "id"}).data.decode("utf-8-sig")
    import csv

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["name"], r["billing_city"]) for r in rows] == [
        ('\'=HYPERLINK("http://evil.example","x")', "'+86 138 0013 8000"),
        ("'@SUM(A1)", "'-1"),
        ("''quoted", "'=1+2"),
    ]
    reimported = post(api, "account", text, key="account_number")
    assert reimported.status_code == 200, reimported.json
    assert (reimported.json["updated"], reimported.json["unchanged"]) == (0, 3)
    after = api.get("/api/v1/records/account", query_string={"sort": "id"}).json["data"]
    assert {r["name"]: r["billing_city"] for r in after} == risky  # nothing changed
    x = api.get("/api/v1/export/account", query_string={"format": "xlsx", "sort": "id"})
    sheet = load_workbook(io.BytesIO(x.data)).active
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("name")] for row in sheet.iter_rows(min_row=2)]
    assert [(c.value, c.data_type) for c in cells] == [(n, "s") for n in risky]
    assert cells[0].quotePrefix and cells[1].quotePrefix


def test_decimals_export_as_number_cells_and_import_back_unchanged(env):
    """The API writes money as a string; a spreadsheet gets a number it can sum, and a
    number cell (even one a float shows as 1e-05) imports as the same amount."""
    api = env.api
    api.post("/api/v1/records/account", json={"name": "Acme", "annual_revenue": "2500.5"})
    api.post("/api/v1/records/account", json={"name": "Bolt", "annual_revenue": 0.01})
    x = api.get("/api/v1/export/account", query_string={"format": "xlsx", "sort": "name"})
    sheet = load_workbook(io.BytesIO(x.data)).active
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("annual_revenue")] for row in sheet.iter_rows(min_row=2)]
    assert [(float(c.value), c.data_type) for c in cells] == [(2500.5, "n"), (0.01, "n")]
    text = api.get("/api/v1/export/account", query_string={"sort": "name"}).data.decode("utf-8-sig")
    assert "2500.50" in text and "'" not in text
    reimported = api.client.post(
        "/api/v1/import/account",
        data={"file": (io.BytesIO(x.data), "accounts.xlsx")},
        query_string={"key": "account_number"},
        headers={"Authorization": f"Bearer {api.token}"},
        content_type="multipart/form-data",
    )
    assert (reimported.json["updated"], reimported.json["unchanged"]) == (0, 2), reimported.json
    book = Workbook()
    book.active.append(["name", "annual_revenue"])
    book.active.append(["Tiny", 0.00001])
    book.active.append(["Round", 12.345])
    out = io.BytesIO()
    book.save(out)
    made = api.client.post(
        "/api/v1/import/account",
        data={"file": (io.BytesIO(out.getvalue()), "new.xlsx")},
        headers={"Authorization": f"Bearer {api.token}"},
        content_type="multipart/form-data",
    )
    assert made.json["created"] == 2, made.json
    rows = api.get("/api/v1/records/account", query_string={"name__in": "Tiny,Round"}).json
    assert sorted(r["annual_revenue"] for r in rows["data"]) == ["0.00", "12.35"]


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
    assert (
        "imported: 1 created, 0 updated, 0 unchanged, 1 skipped, 1 error(s) of 2 rows" in ok.stdout
    )
    target = tmp_path / "out.csv"
    assert "exported 1 lead record(s)" in run(["export", "lead", str(target)], tmp_path).stdout
    assert "Northwind" in target.read_text(encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    run(["export", "lead", str(labelled), "--labels", "zh-CN"], tmp_path)
    assert "公司" in labelled.read_text(encoding="utf-8").splitlines()[0]
    odd = tmp_path / "odd.csv"
    odd.write_text("Surname,Firm,Memo\nZhao,Fabrikam,hello\n")
    preview = run(
        [
            "import",
            "lead",
            str(odd),
            "--map",
            "Surname=last_name",
            "--map",
            "Firm=company",
            "--dry-run",
        ],
        tmp_path,
    )
    assert "column 'Surname' -> last_name" in preview.stderr
    assert "column 'Memo' ignored: not a field of lead" in preview.stderr
    assert 'row 1 would be: {"last_name": "Zhao", "company": "Fabrikam"}' in preview.stdout
    bad_map = run(["import", "lead", str(odd), "--map", "Surname"], tmp_path, check=False)
    assert bad_map.returncode == 2 and "'Surname': write NAME=VALUE" in bad_map.stderr


def test_a_crash_half_way_writes_nothing(env, monkeypatch):
    import pytest

    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService
    from metacrm.platform.transfer import files as transfer

    service = RecordService(env.state(), Context.system("default", 1), env.runtime.pm)
    rows = [{"name": f"A{i}"} for i in range(1500)]
    real = transfer.convert

    def failing(f, value, options=None):
        if value == "A1200":  # in the second batch, after the first batch was written
            raise RuntimeError("disk on fire")
        return real(f, value, options)

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
    from metacrm.platform.transfer import background as import_jobs

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


CONTRACTS = """合同名称,客户,合同金额,开始日期,结束日期,状态,备注
年度服务合同,深圳星河科技有限公司,12000,2026-01-01,2026-12-31,草稿,x
Support,twin co,500,2026-01-01,2026-06-30,Draft,y
Ghost deal,无此客户,1,2026-01-01,2026-02-01,draft,z
"""


def test_import_maps_labels_in_any_locale_and_resolves_names(env):
    api = env.api
    star = api.post("/api/v1/records/account", json={"name": "深圳星河科技有限公司"}).json["id"]
    twins = [api.post("/api/v1/records/account", json={"name": "Twin Co"}).json["id"] for _ in "ab"]
    dry = post(api, "contract", CONTRACTS, dry_run="true")
    assert dry.status_code == 200, dry.json
    mapping = dry.json["mapping"]
    assert mapping["columns"] == {
        "合同名称": "name",
        "客户": "account",
        "合同金额": "amount",
        "开始日期": "start_date",
        "结束日期": "end_date",
        "状态": "status",
    }
    assert mapping["ignored"] == [{"column": "备注", "reason": "not a field of contract"}]
    assert mapping["match"]["account"] == "name"
    assert dry.json["errors"] == [
        {
            "row": 2,
            "field": "account",
            "message": f"2 records match (account with name 'twin co'): ids {twins[0]}, {twins[1]}; "
            "use ids, or match on a unique field",
        },
        {"row": 3, "field": "account", "message": "no account with name '无此客户'"},
    ]
    assert dry.json["preview"][0] == {
        "row": 1,
        "values": {
            "name": "年度服务合同",
            "account": star,
            "amount": "12000",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "status": "draft",  # matched by its zh-CN label
        },
    }
    refused = post(api, "contract", CONTRACTS)
    assert refused.status_code == 422 and len(refused.json["errors"]) == 2
    assert api.get("/api/v1/records/contract").json["data"] == []
    fixed = CONTRACTS.replace("twin co", str(twins[1])).replace("无此客户", "深圳星河科技有限公司")
    done = post(api, "contract", fixed)
    assert done.status_code == 200 and done.json["created"] == 3, done.json
    rows = api.get("/api/v1/records/contract", query_string={"sort": "id"}).json["data"]
    assert [(r["account"], r["status"]) for r in rows] == [
        (star, "draft"),
        (twins[1], "draft"),
        (star, "draft"),
    ]


def test_import_with_an_explicit_mapping_and_match(env):
    api = env.api
    acme = api.post("/api/v1/records/account", json={"name": "Acme"}).json
    number = acme["account_number"]
    csv_text = f"Company,Kunde,Notes\nBolt,{number},x\n"
    mapping = '{"Company": "name", "Kunde": "parent", "Notes": ""}'
    r = post(api, "account", csv_text, mapping=mapping, match='{"parent": "account_number"}')
    assert r.status_code == 200 and r.json["created"] == 1, r.json
    assert r.json["mapping"]["ignored"] == [
        {"column": "Notes", "reason": "left out by the mapping"}
    ]
    bolt = api.get("/api/v1/records/account", query_string={"name": "Bolt"}).json["data"][0]
    assert bolt["parent"] == acme["id"]
    bad = post(api, "account", csv_text, mapping='{"Company": "nom"}')
    assert (
        bad.status_code == 400 and bad.json["detail"] == "mapping: 'nom' is not a field of account"
    )
    bad = post(api, "account", csv_text, mapping='{"Firma": "name"}')
    assert bad.status_code == 400 and "the file has no column 'Firma'" in bad.json["detail"]
    bad = post(api, "account", csv_text, match='{"parent": "industry"}')
    assert bad.status_code == 400
    assert bad.json["detail"] == (
        "match: parent can be matched on name, account_number of account, not 'industry'"
    )
    assert post(api, "account", csv_text, mapping="[1]").status_code == 400


def test_export_with_zh_cn_labels_reimports_as_a_no_op(env):
    api = env.api
    for name, industry in (("深圳星河科技有限公司", "technology"), ("Acme", "retail")):
        api.post(
            "/api/v1/records/account", json={"name": name, "industry": industry, "employees": 5}
        )
    x = api.get(
        "/api/v1/export/account",
        query_string={"format": "xlsx", "headers": "labels", "lang": "zh-CN"},
    )
    header = [c.value for c in load_workbook(io.BytesIO(x.data)).active[1]]
    assert header[:2] == ["id", "version"] and "客户名称" in header and "客户编号" in header
    before = api.get("/api/v1/records/account", query_string={"sort": "id"}).json["data"]
    again = env.api.client.post(
        "/api/v1/import/account",
        data={"file": (io.BytesIO(x.data), "accounts.xlsx")},
        query_string={"key": "account_number"},
        headers={"Authorization": f"Bearer {env.api.token}"},
        content_type="multipart/form-data",
    )
    assert again.status_code == 200, again.json
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 2)
    assert again.json["mapping"]["columns"]["客户编号"] == "account_number"
    after = api.get("/api/v1/records/account", query_string={"sort": "id"}).json["data"]
    assert after == before  # same versions, same values


def test_reference_names_resolve_only_to_records_the_importer_may_read(env):
    from tests.conftest import user

    admin = env.api
    _, rep = user(env, "seller", ["sales_rep"])
    admin.post("/api/v1/records/account", json={"name": "Hidden Corp"})
    mine = rep.post("/api/v1/records/account", json={"name": "Mine Ltd"}).json["id"]
    r = post(rep, "contact", "last_name,account\nLi,Hidden Corp\nWang,mine ltd\n")
    assert r.status_code == 422
    assert r.json["errors"] == [
        {"row": 1, "field": "account", "message": "no account with name 'Hidden Corp'"}
    ]
    r = post(rep, "contact", "last_name,account\nWang,mine ltd\n")
    assert r.status_code == 200 and r.json["created"] == 1
    assert rep.get("/api/v1/records/contact").json["data"][0]["account"] == mine


def _chart_first_workbook() -> bytes:
    book = Workbook()
    book.active.append(["name"])
    book.create_chartsheet(title="Chart", index=0)
    book.active = 0
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "content",
    [b"PK\x03\x04 not really a zip", b"plain text", _chart_first_workbook()],
    ids=["broken-zip", "not-a-zip", "chart-first"],
)
def test_an_unreadable_workbook_is_a_400_that_says_so(env, content):
    r = env.api.client.post(
        "/api/v1/import/account",
        data={"file": (io.BytesIO(content), "accounts.xlsx")},
        headers={"Authorization": f"Bearer {env.api.token}"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400, r.data[:300]
    assert "XLSX" in r.json["detail"] or "worksheet" in r.json["detail"]
