"""`is_new()`, `previous(field)` and `changed(field)`: what a rule knows of the write it
checks (a create, or an update and what it changes). Python only; a database filter
refuses them by name; outside a write they are null, so a condition using them does
not hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metacrm.expressions import DictScope, ExpressionError, check, compile_python
from metacrm.expressions.sql_backend import compile_sql

SCOPE = DictScope({"course": "integer", "stage": "text", "amount": "decimal"})


def run(source: str, values: dict):
    return compile_python(source, SCOPE)(values)


def test_types_and_mistakes():
    assert check("is_new()", SCOPE).type == "boolean"
    assert check("previous(stage)", SCOPE).type == "text"
    assert check("changed(course)", SCOPE).type == "boolean"
    for bad, said in (
        ("is_new(stage)", "is_new() takes no argument"),
        ("previous(upper(stage))", "takes one field of this record"),
        ("changed(1)", "takes one field of this record"),
        ("previous(nope)", "unknown field"),
    ):
        with pytest.raises(ExpressionError, match=said.replace("(", r"\(").replace(")", r"\)")):
            check(bad, SCOPE)


def test_create_update_and_no_write():
    new = {"@new": True, "@old": {}, "course": 2, "stage": "a"}
    assert run("is_new()", new) is True
    assert run("changed(course)", new) is False  # nothing changes on a create
    assert run("previous(course)", new) is None
    update = {"@new": False, "@old": {"course": 1, "stage": "a"}, "course": 2, "stage": "a"}
    assert run("is_new()", update) is False
    assert run("changed(course)", update) is True and run("changed(stage)", update) is False
    assert run("previous(course)", update) == 1
    rule = "not (is_new() or changed(course)) or amount > 0"
    assert compile_python(rule, SCOPE).holds({**update, "amount": 5})
    assert not compile_python(rule, SCOPE).holds({**update, "amount": 0})
    assert compile_python(rule, SCOPE).holds({**update, "course": 1, "amount": 0})  # unchanged
    outside = {"course": 2}  # an automation condition, a list: no write to know of
    for source in ("is_new()", "changed(course)", "previous(course)"):
        assert run(source, outside) is None


def test_a_database_filter_refuses_them_by_name():
    with pytest.raises(ExpressionError, match="is_new\\(\\) reads the record being written"):
        compile_sql("is_new() and course > 1", SCOPE, lambda path: None, "sqlite")


@given(
    old=st.one_of(st.none(), st.integers(-5, 5)),
    new=st.one_of(st.none(), st.integers(-5, 5)),
    creating=st.booleans(),
)
def test_changed_is_an_update_with_another_value(old, new, creating):
    values = {"@new": creating, "@old": {} if creating else {"course": old}, "course": new}
    assert run("changed(course)", values) is ((not creating) and old != new)
    assert run("previous(course)", values) == (None if creating else old)
