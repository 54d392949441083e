"""The REST API (`/api/v1`): JSON in and out, RFC 9457 problem documents for errors."""

from __future__ import annotations

from flask import Blueprint, Flask

from metacrm.platform.api import (
    admin,
    files,
    jobs,
    meta,
    notifications,
    openapi,
    records,
    transfer,
)
from metacrm.platform.api.common import install_error_handlers, resolve_request


def register_api(app: Flask) -> None:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    bp.before_request(resolve_request)
    records.register(bp)
    admin.register(bp)
    transfer.register(bp)
    files.register(bp)
    jobs.register(bp)
    notifications.register(bp)
    meta.register(bp)
    openapi.register(bp)
    app.register_blueprint(bp)
    install_error_handlers(app)
