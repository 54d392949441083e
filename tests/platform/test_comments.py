"""Comments on records through the API, on both databases: whoever may read the record
reads and adds them; only the author (or an administrator) deletes one; a record you
cannot read has no comments you can see or add to."""

from tests.conftest import user


def test_comment_read_and_delete_own(env):
    rita_id, rita = user(env, "rita", ["sales_rep"])
    _, sam = user(env, "sam", ["sales_rep"])
    acme = rita.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    path = f"/api/v1/records/account/{acme}/comments"
    first = rita.post(path, json={"body": "  Called the buyer; call back Monday.  "})
    assert first.status_code == 201, first.json
    assert first.json["body"] == "Called the buyer; call back Monday."
    assert first.json["author"] == "rita" and first.json["author_id"] == rita_id
    env.api.post(path, json={"body": "Board approved the budget."})
    listed = rita.get(path).json["data"]
    assert [c["body"] for c in listed] == [
        "Board approved the budget.",
        "Called the buyer; call back Monday.",
    ]
    assert listed[0]["author"] == "admin"
    record = rita.get(f"/api/v1/records/account/{acme}").json
    assert record["version"] == 1  # a comment is not a change of the record

    assert sam.get(path).status_code == 404  # not his record: no comments either
    assert sam.post(path, json={"body": "hi"}).status_code == 404
    theirs = listed[0]["id"]
    assert rita.delete(f"{path}/{theirs}").status_code == 403  # the admin's comment
    assert rita.delete(f"{path}/{listed[1]['id']}").status_code == 204
    assert env.api.delete(f"{path}/{theirs}").status_code == 204  # an admin may
    assert rita.get(path).json["data"] == []
    assert rita.delete(f"{path}/{theirs}").status_code == 404


def test_a_comment_says_what_is_wrong(env):
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    path = f"/api/v1/records/account/{acme}/comments"
    empty = env.api.post(path, json={"body": "   "})
    assert empty.status_code == 422
    assert empty.json["errors"] == [{"field": "body", "message": "write something"}]
    long = env.api.post(path, json={"body": "x" * 10_001})
    assert long.json["errors"] == [{"field": "body", "message": "at most 10000 characters"}]
    assert env.api.post(path, json={"text": "wrong key"}).status_code == 422
    assert (
        env.api.post("/api/v1/records/account/999/comments", json={"body": "x"}).status_code == 404
    )
