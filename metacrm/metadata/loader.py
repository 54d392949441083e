"""Load YAML and JSON declarations while remembering the line of every value.

PyYAML's SafeLoader follows YAML 1.1, where `no`, `off` and `on` are booleans
and `2026-01-31` is a date. Select options like `[yes, no]` would silently
become booleans, so this loader resolves only `true`/`false` as booleans and
leaves dates as strings (JSON-compatible data, what the schemas describe).
Duplicate keys, which PyYAML silently overwrites, are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metacrm.metadata.errors import MetadataError

PathKey = tuple[Any, ...]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like booleans and no implicit timestamps."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class SourceDoc:
    """One loaded document: its data, where it came from, and line per path."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 0)

    def error(self, path: PathKey, message: str) -> MetadataError:
        return MetadataError(self.file, self.line_of(path), format_path(path), message)


def format_path(path: PathKey) -> str:
    """`('fields', 'amount', 'type')` -> `fields.amount.type`; list indexes as `[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _record_lines(node: yaml.Node, path: PathKey, lines: dict, errors: list, file: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                errors.append(
                    MetadataError(
                        file,
                        key_node.start_mark.line + 1,
                        format_path(path + (key,)),
                        "duplicate key",
                    )
                )
            seen.add(key)
            _record_lines(value_node, path + (key,), lines, errors, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, path + (i,), lines, errors, file)


def load_text(text: str, file: str) -> tuple[SourceDoc | None, list[MetadataError]]:
    """Parse YAML (or JSON, a YAML subset) text; return the document or the syntax error."""
    errors: list[MetadataError] = []
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return SourceDoc(file, None, {(): 1}), [
                MetadataError(file, 1, "", "the document is empty")
            ]
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, [MetadataError(file, line, "", f"not valid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [MetadataError(file, 1, "", f"not valid YAML: {exc}")]
    finally:
        loader.dispose()
    lines: dict[PathKey, int] = {}
    _record_lines(node, (), lines, errors, file)
    return SourceDoc(file, data, lines), errors


def load_file(path: Path, display: str) -> tuple[SourceDoc | None, list[MetadataError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [MetadataError(display, 0, "", f"cannot read: {exc}")]
    return load_text(text, display)
