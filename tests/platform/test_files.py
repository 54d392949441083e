"""Attachments through the API, on both databases: upload, attach, read back; the field's
size limit and accepted types; who may read a file (its uploader, and whoever may read
the record field that holds it: 404 for anyone else); served so that an uploaded page
cannot run as this site."""

import io

from tests.conftest import user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(api, name: str, content: bytes, **form):
    return api.post(
        "/api/v1/files",
        data={"file": (io.BytesIO(content), name), **form},
        content_type="multipart/form-data",
    )


def contract(api, **extra) -> dict:
    acme = api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    body = {
        "name": "Supply 2027",
        "account": acme,
        "amount": 1000,
        "start_date": "2027-01-01",
        "end_date": "2027-12-31",
        **extra,
    }
    return api.post("/api/v1/records/contract", json=body)


def test_upload_attach_and_read_back(env):
    up = upload(env.api, "signed.pdf", PDF)
    assert up.status_code == 201, up.json
    file = up.json
    assert file == {
        "id": file["id"],
        "name": "signed.pdf",
        "size": len(PDF),
        "content_type": "application/pdf",
    }
    assert up.headers["Location"].endswith(f"/api/v1/files/{file['id']}")
    made = contract(env.api, signed_copy=file["id"])
    assert made.status_code == 201, made.json
    assert made.json["signed_copy"] == file  # the record holds the descriptor
    got = env.api.get(f"/api/v1/records/contract/{made.json['id']}").json
    assert got["signed_copy"] == file
    body = env.api.get(f"/api/v1/files/{file['id']}")
    assert body.status_code == 200 and body.data == PDF
    assert body.mimetype == "application/pdf"
    assert body.headers["X-Content-Type-Options"] == "nosniff"
    assert "inline" in body.headers["Content-Disposition"]
    assert "private" in body.headers["Cache-Control"]
    # writing back what a read returned keeps it; null takes it away
    same = env.api.patch(
        f"/api/v1/records/contract/{made.json['id']}", json={"signed_copy": got["signed_copy"]}
    )
    assert same.status_code == 200 and same.json["signed_copy"] == file
    cleared = env.api.patch(
        f"/api/v1/records/contract/{made.json['id']}", json={"signed_copy": None}
    )
    assert cleared.json["signed_copy"] is None
    history = env.api.get(f"/api/v1/records/contract/{made.json['id']}/history").json["data"]
    assert any(h["field"] == "signed_copy" and h["old"] == file for h in history)


def test_a_multiple_field_holds_a_list_and_keeps_its_order(env):
    shot = upload(env.api, "screen.png", b"\x89PNG\r\n\x1a\nfake").json
    log = upload(env.api, "server.log", b"ERROR disk full\n").json
    ticket = env.api.post(
        "/api/v1/records/ticket",
        json={"subject": "Printer down", "attachments": [log["id"], shot["id"], log["id"]]},
    )
    assert ticket.status_code == 201, ticket.json
    assert [f["name"] for f in ticket.json["attachments"]] == ["server.log", "screen.png"]
    assert ticket.json["attachments"][1]["content_type"] == "image/png"
    kept = env.api.patch(
        f"/api/v1/records/ticket/{ticket.json['id']}",
        json={"attachments": [ticket.json["attachments"][1]]},
    )
    assert [f["name"] for f in kept.json["attachments"]] == ["screen.png"]
    download = env.api.get(f"/api/v1/files/{log['id']}")
    assert "attachment" in download.headers["Content-Disposition"]  # not shown inline
    assert download.mimetype == "application/octet-stream"


def test_the_field_refuses_what_it_does_not_take_and_nothing_is_written(env):
    page = upload(env.api, "evil.html", b"<script>alert(1)</script>").json
    made = contract(env.api, signed_copy=page["id"])
    assert made.status_code == 422
    assert made.json["errors"] == [
        {
            "field": "signed_copy",
            "message": "evil.html is not an accepted type (accepted: .pdf, image/*)",
        }
    ]
    assert env.api.get("/api/v1/records/contract").json["data"] == []  # nothing written
    # checked at upload too, when the client says which field the file is for
    early = upload(env.api, "evil.html", b"<p>", entity="contract", field="signed_copy")
    assert early.status_code == 422
    assert early.json["errors"][0]["field"] == "signed_copy"
    wrong = upload(env.api, "a.pdf", PDF, entity="contract", field="terms")
    assert wrong.status_code == 422
    assert wrong.json["errors"] == [{"field": "field", "message": "attachment fields: signed_copy"}]
    assert upload(env.api, "empty.pdf", b"").status_code == 422
    missing = env.api.post("/api/v1/files", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "'file'" in missing.json["detail"]
    nobody = contract(env.api, signed_copy=987654)
    assert nobody.json["errors"] == [{"field": "signed_copy", "message": "no file with id 987654"}]
    two = contract(env.api, signed_copy=[page["id"], page["id"] + 1])
    assert two.json["errors"] == [
        {"field": "signed_copy", "message": "holds one file; send one id"}
    ]
    text = contract(env.api, signed_copy="contract.pdf")
    assert "POST /api/v1/files" in text.json["errors"][0]["message"]
    # a sandboxed download: an uploaded page cannot run as this site
    served = env.api.get(f"/api/v1/files/{page['id']}")
    assert served.headers["Content-Security-Policy"].startswith("sandbox")
    assert "attachment" in served.headers["Content-Disposition"]


def test_the_size_limit_of_the_field(env):
    big = upload(env.api, "scan.pdf", b"%PDF" + b"0" * (20 * 1024 * 1024))
    assert big.status_code == 201  # an upload for no field in particular
    made = contract(env.api, signed_copy=big.json["id"])
    assert made.status_code == 422
    assert made.json["errors"][0]["message"] == (
        "scan.pdf is 20.0 MB; this field takes files of at most 20 MB"
    )


def test_who_may_read_a_file(env):
    rita_id, rita = user(env, "rita", ["sales_rep"])
    sam_id, sam = user(env, "sam", ["sales_rep"])
    _, finance = user(env, "fay", ["finance"])
    mine = upload(rita, "rita.pdf", PDF).json
    assert sam.get(f"/api/v1/files/{mine['id']}").status_code == 404  # not attached: hers only
    assert rita.get(f"/api/v1/files/{mine['id']}").status_code == 200
    # sam cannot take her file by attaching its id to his own record
    stolen = contract(sam, signed_copy=mine["id"])
    assert stolen.json["errors"] == [
        {"field": "signed_copy", "message": f"no file with id {mine['id']}"}
    ]
    made = contract(rita, signed_copy=mine["id"])
    assert made.status_code == 201, made.json
    # finance reads every contract: the file comes with the record; sam sees own only
    assert finance.get(f"/api/v1/files/{mine['id']}").status_code == 200
    assert sam.get(f"/api/v1/files/{mine['id']}").status_code == 404
    env.api.post(
        "/api/v1/records/contract/assign", json={"ids": [made.json["id"]], "owner": sam_id}
    )
    assert sam.get(f"/api/v1/files/{mine['id']}").status_code == 200  # now his contract
    assert rita.get(f"/api/v1/files/{mine['id']}").status_code == 200  # and still her upload
    env.api.delete(f"/api/v1/records/contract/{made.json['id']}")
    assert sam.get(f"/api/v1/files/{mine['id']}").status_code == 404  # in the trash
    assert rita_id != sam_id


def test_names_are_cleaned_and_kept_in_any_language(env):
    up = upload(env.api, "../../scans/合同 签字版.pdf", PDF).json
    assert up["name"] == "合同 签字版.pdf"
    served = env.api.get(f"/api/v1/files/{up['id']}?download=1")
    assert "attachment" in served.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E5%90%88" in served.headers["Content-Disposition"]
    etag = served.headers["ETag"]
    again = env.api.get(f"/api/v1/files/{up['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_files_are_per_tenant(env):
    up = upload(env.api, "a.pdf", PDF).json
    env.runtime.tenants.create("other")
    from metacrm.platform.access import auth

    other = env.runtime.tenant("other")
    admin = auth.create_user(other, "boss", "boss-password", is_admin=True)
    token = auth.create_token(other, admin)
    answer = env.api.client.get(
        f"/api/v1/files/{up['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 404  # another tenant's admin: no such file


def test_a_merge_takes_the_file_over_with_who_may_read_it(env):
    _, finance = user(env, "fay", ["finance"])
    pdf = upload(env.api, "signed.pdf", PDF).json
    keep = contract(env.api).json["id"]
    dupe = contract(env.api, signed_copy=pdf["id"]).json["id"]
    merged = env.api.post(
        f"/api/v1/records/contract/{keep}/merge",
        json={"from": [dupe], "fields": {"signed_copy": dupe}},
    )
    assert merged.status_code == 200, merged.json
    assert env.api.get(f"/api/v1/records/contract/{keep}").json["signed_copy"] == pdf
    # the duplicate is in the trash; the file is read through the record that kept it
    assert finance.get(f"/api/v1/files/{pdf['id']}").status_code == 200


def test_uploads_no_record_took_are_pruned_after_a_day(env):
    import datetime as dt

    from sqlalchemy import update

    attached = upload(env.api, "signed.pdf", PDF).json["id"]
    assert contract(env.api, signed_copy=attached).status_code == 201
    left = upload(env.api, "left.pdf", PDF).json["id"]
    fresh = upload(env.api, "fresh.pdf", PDF).json["id"]
    state = env.state()
    files = state.system["files"]
    now = dt.datetime.now(dt.UTC)
    with state.write.begin() as conn:  # two uploads of yesterday
        conn.execute(
            update(files)
            .where(files.c.id.in_([attached, left]))
            .values(uploaded_at=now - dt.timedelta(hours=25))
        )
    env.runtime.pm.hook.metacrm_scheduled(runtime=env.runtime, state=state, now=now)
    assert env.api.get(f"/api/v1/files/{left}").status_code == 404  # pruned
    assert env.api.get(f"/api/v1/files/{attached}").status_code == 200  # a record holds it
    assert env.api.get(f"/api/v1/files/{fresh}").status_code == 200  # a form may still save
