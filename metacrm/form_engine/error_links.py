"""The designer's error summary names each control as the admin sees it ("Label 2"),
not by its form key (`stage_label.1`), and links to it. The names are read from the
rendered page itself (a control's `aria-label`, else its `<label for>`, as a browser names
it), so no form keeps a second list of labels that could drift from its controls.

A key `a.b` is drawn as the control `f-a.b`, `f-a-b` (ids without dots suit CSS and htmx
selectors) or, for a list of pickers, the first one, `f-a-b-1`.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from markupsafe import escape

# what the error_summary macro draws: <a href="#f-KEY" data-control>KEY</a>
_LINK = re.compile(r'<a href="#f-([^"]*)" data-control>(.*?)</a>', re.S)


class _ControlNames(HTMLParser):
    """Collects each id on the page and the text a person reads for it: `aria-label`,
    `aria-labelledby`, `data-error-name` (a group, such as an action card, with no ARIA
    name of its own), or the `<label for>` that points at it."""

    # elements whose text can name another (a label, or a heading a group points at)
    _TEXT_TAGS = frozenset({"label", "span", "legend"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.named: dict[str, str] = {}  # id -> aria-label / data-error-name
        self.labelled_by: dict[str, str] = {}  # id -> the id of the text that names it
        self.label_for: dict[str, str] = {}  # id -> the text of its <label for>
        self.text_of: dict[str, str] = {}  # id -> the element's own text
        # open text captures: [tag, id or None, `for` or None, text parts, hidden depth]
        self._open: list[list] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        for capture in self._open:  # the required star is aria-hidden: not read
            if capture[4] or found.get("aria-hidden") == "true":
                capture[4] += 1
        element_id = found.get("id")
        if element_id:
            self.ids.add(element_id)
            if found.get("aria-label") or found.get("data-error-name"):
                self.named[element_id] = found.get("aria-label") or found["data-error-name"]
            if found.get("aria-labelledby"):
                self.labelled_by[element_id] = found["aria-labelledby"].split()[0]
        if tag in self._TEXT_TAGS and (element_id or (tag == "label" and found.get("for"))):
            self._open.append(
                [tag, element_id, found.get("for") if tag == "label" else None, [], 0]
            )

    def handle_endtag(self, tag: str) -> None:
        for capture in self._open:
            if capture[4]:
                capture[4] -= 1
        if self._open and self._open[-1][0] == tag and not self._open[-1][4]:
            _, element_id, label_for, parts, _ = self._open.pop()
            text = " ".join("".join(parts).split())
            if text and element_id:
                self.text_of[element_id] = text
            if text and label_for:
                self.label_for.setdefault(label_for, text)

    def handle_data(self, data: str) -> None:
        for capture in self._open:
            if not capture[4]:
                capture[3].append(data)

    def control(self, key: str) -> tuple[str, str | None] | None:
        """The id drawn for an error key, and that control's name as a browser gives it."""
        dashed = key.replace(".", "-")
        for candidate in (f"f-{key}", f"f-{dashed}", f"f-{key}-1", f"f-{dashed}-1"):
            if candidate in self.ids:
                by = self.labelled_by.get(candidate)
                return candidate, (
                    (self.text_of.get(by) if by else None)
                    or self.named.get(candidate)
                    or self.label_for.get(candidate)
                )
        return None


def name_error_links(page: str) -> str:
    """The page with each error-summary link reading its control's name and landing on
    it; a key whose control is not on the page stays as it was, so nothing is dropped."""
    if "data-control>" not in page:
        return page
    names = _ControlNames()
    names.feed(page)
    names.close()

    def named(match: re.Match) -> str:
        found = names.control(html.unescape(match.group(1)))
        if found is None:
            return match.group(0)
        control_id, text = found
        shown = escape(text) if text else match.group(2)
        return f'<a href="#{escape(control_id)}" data-control>{shown}</a>'

    return _LINK.sub(named, page)
