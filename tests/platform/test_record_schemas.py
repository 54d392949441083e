"""RecordSchema.load walks the marshmallow fields itself (for speed): it must agree with
marshmallow's own Schema.load on every field type, for valid and invalid values alike."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from metacrm.default_app import PACKAGE_DIR
from metacrm.metadata.compiler import compile_model, read_packages
from metacrm.platform.records.schemas import RecordSchema

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="module")
def schema() -> RecordSchema:
    packages, errors = read_packages([PACKAGE_DIR, FIXTURES / "types_pkg"])
    assert not errors
    return RecordSchema(compile_model(packages).entities["gadget"])


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "red",
            "s",
            "2026-02-30",
            "2026-11-22",
            "2026-11-22T10:00:00+02:00",
            "2026-11-22T10:00:00",
            "a@example.com",
            "not an email",
            "https://example.com/x",
            "+1 (555) 010-0000",
            "12.345",
            "1e400",
            "Widget 7",
        ]
    ),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=2),
)


def _outcome(load, body, partial):
    try:
        return "ok", load(body, partial)
    except ValidationError as exc:
        return "error", exc.messages


@settings(max_examples=400, deadline=None)
@given(data=st.data(), partial=st.booleans())
def test_fast_load_matches_marshmallow_schema_load(schema, data, partial):
    names = sorted(schema.writable)
    body = data.draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=6))
    ours = _outcome(schema.load, body, partial)
    theirs = _outcome(lambda b, p: schema.schema.load(b, partial=p), body, partial)
    assert ours == theirs
    if ours[0] == "error":
        assert list(ours[1]) == list(theirs[1])  # and the fields in the same order


def test_load_many_reports_by_index_and_returns_nothing_on_error(schema):
    good = {"title": "Widget 1"}
    assert schema.load_many([good, good]) == ([{"title": "Widget 1"}] * 2, {})
    loaded, errors = schema.load_many([good, {"title": "x!"}, {}])
    assert loaded == [] and sorted(errors) == [1, 2]
    assert errors[2] == {"title": ["Missing data for required field."]}


def test_a_moment_past_the_last_utc_day_is_a_field_error(schema):
    with pytest.raises(ValidationError) as refused:
        schema.load({"title": "Edge", "seen_at": "9999-12-31T23:00:00-05:00"}, partial=True)
    assert refused.value.messages == {"seen_at": ["is outside the years 1 to 9999 in UTC"]}
