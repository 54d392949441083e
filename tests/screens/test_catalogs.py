"""Every UI string of the screens is in the zh-CN catalog, translated (a new `_()` without
a translation fails here, not in a reviewer's screenshot)."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).parents[2]
ENGINE = ROOT / "metacrm" / "form_engine"
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2), "N_": None}
SOURCES = {  # as babel.cfg: every engine's screens
    ENGINE: [("**.py", "python"), ("templates/**.html", "jinja2")],
    ROOT / "metacrm" / "workflow_engine": [
        ("*_screens.py", "python"),
        ("*_panel.py", "python"),
        ("templates/**.html", "jinja2"),
    ],
    ROOT / "metacrm" / "expressions": [("functions.py", "python")],  # the designer's list
}


def ui_strings() -> set[str]:
    found = set()
    for folder, method_map in SOURCES.items():
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), method_map, keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_ui_string_has_a_chinese_translation():
    with (ENGINE / "translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]  # a plural message: by its singular
        for m in catalog
        if m.id
        and m.string
        and all(m.string if isinstance(m.string, tuple) else [m.string])
        and not m.fuzzy
    }
    strings = ui_strings()
    assert len(strings) > 30
    assert sorted(strings - translated) == []
