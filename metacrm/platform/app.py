"""create_app(): builds the Flask app and the Runtime it owns."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from metacrm.platform.api import register_api
from metacrm.platform.api.common import RecordIdConverter
from metacrm.platform.api.json_provider import OrjsonProvider
from metacrm.platform.api.sessions import init_sessions
from metacrm.platform.runtime import Runtime
from metacrm.platform.settings import Settings, settings_from_env


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or settings_from_env()
    app = Flask("metacrm")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        METACRM_BASE_DOMAIN=settings.base_domain,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
    )
    app.json = OrjsonProvider(app)
    app.url_map.converters["id"] = RecordIdConverter
    if settings.trusted_proxies:  # the client's address and scheme, as the proxies saw them
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    runtime = runtime or Runtime(settings)
    app.extensions["metacrm"] = runtime

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    init_sessions(app)
    register_api(app)
    runtime.pm.hook.metacrm_register_blueprints(app=app, runtime=runtime)
    return app
