"""Service errors that carry what an RFC 9457 problem document needs."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init__(self, detail: str, errors: list[dict] | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def __str__(self) -> str:
        """The detail with every field's message (what job logs and automation errors show)."""
        parts = [
            f"{e['field']}: {e['message']}" if e.get("field") else str(e.get("message"))
            for e in self.errors
        ]
        return f"{self.detail} ({'; '.join(parts)})" if parts else self.detail

    def messages(self) -> str:
        """What a screen says: the fields' messages (a person sees which field beside
        it, or needs no field name), else the detail."""
        return "; ".join(m for e in self.errors if (m := e.get("message"))) or self.detail

    def problem(self) -> dict:
        doc = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            doc["errors"] = self.errors
        doc.update(self.extra)
        return doc


class BadQuery(ServiceError):
    status, title, type = 400, "Bad query", "https://metacrm.dev/problems/bad-query"


class Unauthorized(ServiceError):
    status, title, type = 401, "Unauthorized", "https://metacrm.dev/problems/unauthorized"


class Forbidden(ServiceError):
    status, title, type = 403, "Forbidden", "https://metacrm.dev/problems/forbidden"


class NotFound(ServiceError):
    status, title, type = 404, "Not found", "https://metacrm.dev/problems/not-found"


class Conflict(ServiceError):
    status, title, type = 409, "Conflict", "https://metacrm.dev/problems/conflict"


class RecordInvalid(ServiceError):
    status, title, type = 422, "Validation failed", "https://metacrm.dev/problems/validation"


def field_errors(messages: Any, index: int | None = None) -> list[dict]:
    """marshmallow's {field: [msg] | {i: [msg]}} -> [{field, message[, index]}]."""
    out = []
    for field, value in messages.items():
        if isinstance(value, dict):  # list items: {position: [messages]}
            for pos, msgs in value.items():
                for msg in msgs if isinstance(msgs, list) else [msgs]:
                    out.append({"field": field, "message": f"item {pos}: {msg}"})
            continue
        for msg in value if isinstance(value, list) else [value]:
            out.append({"field": field, "message": str(msg)})
    if index is not None:
        for e in out:
            e["index"] = index
    return out


class Locked(ServiceError):
    status, title, type = 423, "Locked", "https://metacrm.dev/problems/locked"
