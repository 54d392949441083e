"""The import screen in a real browser: upload, the mapping and a dry run's findings,
then the real import (a background job) and its row errors."""

import re

from tests.screens.conftest import shot, sign_in

CSV = "客户名称,Employees,Industry,Shoe size\nAcme,120,Retail,42\nBolt,many,energy,43\nCoda,5,,44\n"


def test_upload_check_then_import(page, site, tmp_path):
    env, base = site
    upload = tmp_path / "accounts.csv"
    upload.write_text(CSV, encoding="utf-8")
    sign_in(page, base)
    page.goto(base + "/app/account")
    page.click("text=Import")
    page.wait_for_url(base + "/app/account/import")
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Check the file')")
    page.wait_for_url(re.compile(r".*/app/imports/\d+$"))
    progress = page.locator(".import-progress")
    progress.wait_for()
    page.wait_for_selector(".import-progress[data-status=done]")
    report = page.inner_text("[data-report]")
    assert "Dry run: nothing was written." in report and "2 rows are ready to import" in report
    mapping = page.locator("table.mapping").inner_text()
    assert "客户名称\tname" in mapping and "Shoe size" in mapping  # by label, in any language
    errors = page.locator("table.row-errors tbody tr").all_inner_texts()
    assert len(errors) == 1 and errors[0].startswith("2\temployees")
    assert env.api.get("/api/v1/records/account").json["data"] == []
    shot(page, "import-check-desktop-en")
    page.click("button:has-text('Import')")
    page.wait_for_url(re.compile(r".*/app/imports/\d+$"))
    page.wait_for_selector(".import-progress[data-status=done]")
    assert "2 created" in page.inner_text("[data-report]")
    assert page.locator("progress").get_attribute("value") == "100"
    names = sorted(r["name"] for r in env.api.get("/api/v1/records/account").json["data"])
    assert names == ["Acme", "Coda"]


def test_a_running_import_polls_its_progress_and_a_finished_one_stops(site):
    """With a worker (rq), the job runs after the page is shown: the progress block asks
    for itself again every second until the job is done."""
    from flask import render_template

    env, _ = site
    job = {
        "id": 7,
        "entity": "account",
        "filename": "a.csv",
        "options": {"dry_run": False},
        "status": "running",
        "total_rows": 1000,
        "processed_rows": 250,
        "percent": 25,
        "report": None,
        "error": None,
    }
    with env.app.test_request_context("/app/imports/7"):
        running = render_template("screens/import_progress.html", job=job)
        done = render_template(
            "screens/import_progress.html",
            job={
                **job,
                "status": "done",
                "percent": 100,
                "report": {"created": 1000, "updated": 0, "skipped": 0, "errors": []},
            },
        )
    assert 'hx-trigger="every 1s"' in running and 'value="25"' in running
    assert "250 of 1000 rows" in running
    assert "hx-trigger" not in done and "1000 created" in done
