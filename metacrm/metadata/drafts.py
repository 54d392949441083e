"""Metadata while it is being layered: entities and definitions as read from packages
and the overlay, with where each came from (for errors), before they are frozen into
the model. The compiler builds them; the semantic and expression checks read them."""

from __future__ import annotations

from dataclasses import dataclass, field

from metacrm.metadata.loader import SourceDoc


@dataclass
class FieldDraft:
    data: dict
    doc: SourceDoc
    path: tuple
    origin: str


@dataclass
class EntityDraft:
    name: str
    data: dict
    doc: SourceDoc
    path: tuple
    origin: str
    package: str | None
    fields: dict[str, FieldDraft] = field(default_factory=dict)


@dataclass
class Drafts:
    entities: dict[str, EntityDraft] = field(default_factory=dict)
    pipelines: dict[str, tuple[dict, SourceDoc]] = field(default_factory=dict)
    views: dict[str, tuple[dict, SourceDoc]] = field(default_factory=dict)
    roles: dict[str, tuple[dict, SourceDoc]] = field(default_factory=dict)
    automations: dict[str, tuple[dict, SourceDoc]] = field(default_factory=dict)
    approvals: dict[str, tuple[dict, SourceDoc]] = field(default_factory=dict)
    pools: dict[str, tuple[dict, SourceDoc]] = field(default_factory=dict)
    # (kind, name) -> the package that defined a process document (extensions check it)
    process_package: dict[tuple[str, str], str] = field(default_factory=dict)
