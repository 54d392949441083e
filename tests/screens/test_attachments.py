"""Attachments in a real browser, as a service agent and a sales rep use them: files
chosen in the form are stored with the record and listed on its page; an untick removes
one; a file the field refuses is named, nothing is saved, and the files already stored
stay in the form."""

import re

from playwright.sync_api import expect

from tests.screens.conftest import shot, sign_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SAVE = ".record-form button[type=submit]"


def file(name: str, mime: str, content: bytes) -> dict:
    return {"name": name, "mimeType": mime, "buffer": content}


def test_a_ticket_with_files_then_one_removed_and_one_added(page, site):
    env, base = site
    sign_in(page, base)
    page.goto(base + "/app/ticket/new")
    page.fill("input[name=subject]", "Printer jams")
    page.set_input_files(
        "input[type=file][name=attachments]",
        [
            file("jam.png", "image/png", b"\x89PNG\r\n\x1a\nimage"),
            file("log.txt", "text/plain", b"E42"),
        ],
    )
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/ticket/\d+$"))
    links = page.locator("[data-field=attachments] a")
    assert links.all_inner_texts() == ["jam.png", "log.txt"]
    ticket = env.api.get("/api/v1/records/ticket").json["data"][0]
    log_id = ticket["attachments"][1]["id"]
    served = page.request.get(f"{base}/api/v1/files/{log_id}")  # the session reads it
    assert served.ok and served.body() == b"E42"

    page.click(".actions >> text=Edit")
    page.uncheck(f"input[data-file='{log_id}']")
    page.set_input_files(
        "input[type=file][name=attachments]", [file("photo.jpg", "image/jpeg", b"\xff\xd8\xff")]
    )
    shot(page, "attachments-form-desktop-en")
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/ticket/\d+$"))
    assert page.locator("[data-field=attachments] a").all_inner_texts() == ["jam.png", "photo.jpg"]
    names = [
        f["name"] for f in env.api.get(f"/api/v1/records/ticket/{ticket['id']}").json["attachments"]
    ]
    assert names == ["jam.png", "photo.jpg"]
    assert page.console_errors == []


def test_a_refused_file_is_named_and_nothing_is_saved(browser, site):
    env, base = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    context = browser.new_context(viewport={"width": 375, "height": 800}, locale="en-US")
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/app/contract/new?account={acme}")
    page.fill("input[name=name]", "Supply 2027")
    page.fill("input[name=amount]", "1000")
    page.fill("input[name=start_date]", "2027-01-01")
    page.fill("input[name=end_date]", "2027-12-31")
    assert page.get_attribute("input[type=file][name=signed_copy]", "accept") == ".pdf,image/*"
    page.set_input_files(
        "input[type=file][name=signed_copy]", [file("notes.html", "text/html", b"<p>hi")]
    )
    page.click(SAVE)
    assert "notes.html is not an accepted type" in page.inner_text("#e-signed_copy")
    assert page.input_value("input[name=name]") == "Supply 2027"  # what was typed is kept
    assert env.api.get("/api/v1/records/contract").json["data"] == []

    page.set_input_files(
        "input[type=file][name=signed_copy]", [file("signed.pdf", "application/pdf", PDF)]
    )
    page.fill("input[name=end_date]", "2026-01-01")  # before the start: the rule refuses it
    page.click(SAVE)
    expect(page.locator(".error-summary")).to_be_visible()  # the refused page has loaded
    held = page.locator("ul.files input[type=checkbox]")
    assert held.count() == 1 and held.is_checked()  # stored once; need not be chosen again
    assert "signed.pdf" in page.inner_text("ul.files")
    page.fill("input[name=end_date]", "2027-12-31")
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*/app/contract/\d+$"))
    assert page.locator("[data-field=signed_copy] a").inner_text() == "signed.pdf"
    shot(page, "attachments-record-mobile-en")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    [made] = env.api.get("/api/v1/records/contract").json["data"]
    assert made["signed_copy"]["name"] == "signed.pdf"
    context.close()


def test_a_file_name_is_text_never_markup(page, site):
    env, base = site
    name = "'><img src=x onerror=window.__xss=1>.png"
    stored = env.api.post(
        "/api/v1/files",
        data={"file": (__import__("io").BytesIO(b"\x89PNG"), name)},
        content_type="multipart/form-data",
    ).json
    assert stored["name"] == name
    ticket = env.api.post(
        "/api/v1/records/ticket", json={"subject": "XSS", "attachments": [stored["id"]]}
    ).json
    sign_in(page, base)
    page.goto(f"{base}/app/ticket/{ticket['id']}")
    assert page.inner_text("[data-field=attachments] a") == name
    page.click(".actions >> text=Edit")
    held = page.locator(f"input[data-file='{stored['id']}']")
    assert held.is_checked()
    page.click(SAVE)  # the kept file's value went back intact
    page.wait_for_url(re.compile(r".*/app/ticket/\d+$"))
    after = env.api.get(f"/api/v1/records/ticket/{ticket['id']}").json["attachments"]
    assert after == [stored]
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0
