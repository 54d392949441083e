from metacrm.metadata.loader import format_path, load_text


def test_lines_are_recorded_for_keys_and_list_items():
    doc, errors = load_text(
        "name: x\nfields:\n  amount:\n    type: currency\n  stage:\n    options: [a, b]\n", "f.yaml"
    )
    assert errors == []
    assert doc.line_of(("fields", "amount", "type")) == 4
    assert doc.line_of(("fields", "stage", "options", 1)) == 6
    # unknown paths fall back to the nearest ancestor
    assert doc.line_of(("fields", "amount", "nope")) == 3


def test_yes_no_on_off_stay_strings_and_dates_stay_strings():
    doc, _ = load_text("options: [yes, no, on, off]\nflag: true\nday: 2026-01-31\n", "f.yaml")
    assert doc.data == {"options": ["yes", "no", "on", "off"], "flag": True, "day": "2026-01-31"}


def test_duplicate_keys_are_reported_with_their_line():
    _, errors = load_text("name: a\nfields:\n  x: {type: text}\n  x: {type: integer}\n", "e.yaml")
    assert [str(e) for e in errors] == ["e.yaml:4 fields.x: duplicate key"]


def test_syntax_error_names_the_line():
    doc, errors = load_text("name: a\nfields:\n  x: [unclosed\n  y: 1\n", "bad.yaml")
    assert doc is None
    assert errors[0].file == "bad.yaml" and errors[0].line >= 3
    assert "not valid YAML" in errors[0].message


def test_empty_document_is_an_error():
    _, errors = load_text("", "empty.yaml")
    assert errors and errors[0].message == "the document is empty"


def test_json_is_loaded_with_lines():
    doc, errors = load_text(
        '{\n "name": "x",\n "fields": {\n  "a": {"type": "text"}\n }\n}', "e.json"
    )
    assert errors == [] and doc.line_of(("fields", "a")) == 4


def test_format_path():
    assert format_path(("fields", "amount", "options", 2)) == "fields.amount.options[2]"
