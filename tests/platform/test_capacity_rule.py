"""A capacity rule that knows create from update (`is_new()`, `changed(course)`): the
education test pack counts the enrollment being written exactly once, on both
databases: a full course refuses a new enrollment and a move into it, and an edit that
keeps the course is not refused."""

from pathlib import Path

import pytest

from tests.conftest import _env_fixture

PACK = Path(__file__).parents[1] / "packs" / "education"


@pytest.fixture
def edu(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, (PACK,))


def test_the_enrollment_being_written_is_counted_once(edu):
    api = edu.api
    small = api.post("/api/v1/records/course", json={"name": "Small", "capacity": 2}).json["id"]
    other = api.post("/api/v1/records/course", json={"name": "Other", "capacity": 1}).json["id"]

    def enroll(student, course):
        return api.post("/api/v1/records/enrollment", json={"student": student, "course": course})

    first, second = enroll("Ann", small), enroll("Bo", small)
    assert first.status_code == 201 and second.status_code == 201, second.json
    full = enroll("Cy", small)
    assert full.status_code == 422
    assert full.json["errors"][0]["rule"] == "course_has_room"
    assert "The course is full" in full.json["errors"][0]["message"]
    # an edit that keeps the course is no new seat
    renamed = api.patch(
        f"/api/v1/records/enrollment/{first.json['id']}",
        json={"student": "Ann Li", "version": first.json["version"]},
    )
    assert renamed.status_code == 200, renamed.json
    # a move takes a seat in the other course, once
    moved = api.patch(
        f"/api/v1/records/enrollment/{second.json['id']}",
        json={"course": other, "version": second.json["version"]},
    )
    assert moved.status_code == 200, moved.json
    back = api.patch(
        f"/api/v1/records/enrollment/{renamed.json['id']}",
        json={"course": other, "version": renamed.json["version"]},
    )
    assert back.status_code == 422  # Other (capacity 1) is full now
    assert api.get(f"/api/v1/records/course/{small}").json["enrolled"] == 1
    assert enroll("Dee", small).status_code == 201  # Small has room again
