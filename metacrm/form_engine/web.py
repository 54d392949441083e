"""What the screens add to the app: languages (Flask-Babel), the browser login page,
front-end assets from node_modules, a Content-Security-Policy, HTML error pages."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import Babel
from flask_login import current_user, logout_user
from flask_wtf.csrf import generate_csrf

from metacrm.form_engine.i18n import LANGUAGES, remember_language, select_locale, select_timezone
from metacrm.platform.api import sessions
from metacrm.platform.errors import ServiceError

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).parent / "static"
TRANSLATIONS = Path(__file__).parent / "translations"
# what /assets/<name> serves: our own files, and the few files of npm packages we use
ASSETS = {
    "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
    "Sortable.min.js": "node_modules/sortablejs/Sortable.min.js",
    "echarts.min.js": "node_modules/echarts/dist/echarts.min.js",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)


def wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def asset(name: str):
    """GET /assets/<name>: our static files, and npm packages' files from node_modules."""
    own = STATIC / name
    if name in ASSETS:
        path = ROOT / ASSETS[name]
        if not path.is_file():  # `npm ci` was not run: say so instead of a bare 404
            abort(404, description=f"{name} is missing: run `npm ci` in {ROOT}")
    elif own.is_file() and own.parent == STATIC:
        path = own
    else:
        abort(404)
    response = send_file(path, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def login_page():
    """GET and POST /login (and POST /logout) for browsers; JSON clients keep the
    platform's JSON login."""
    if request.path == "/logout" and request.method == "POST" and wants_html():
        logout_user()
        return redirect("/login")
    if request.path != "/login" or not wants_html():
        return None
    error, status = None, 200
    if request.method == "POST":
        try:
            sessions.login()
        except ServiceError as exc:
            error, status = exc.detail, exc.status
        else:
            state = current_app.extensions["metacrm"].tenant(current_user.tenant)
            remember_language(state, current_user.user.id)
            target = request.args.get("next") or ""
            safe = (
                target.startswith(("/app", "/setup")) and "//" not in target and "\\" not in target
            )
            return redirect(target if safe else url_for("screens.home"))
    username = request.form.get("username", "")
    return render_template("screens/login.html", error=error, username=username), status


def compile_catalogs(directory: Path) -> None:
    """Compile each language's .po into the .mo gettext reads, when missing or older
    (a fresh checkout, or an edited catalog): no separate build step to forget."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                catalog = read_po(source)
            with mo.open("wb") as target:
                write_mo(target, catalog)
        except OSError as exc:  # a read-only install: ship compiled catalogs instead
            LOG.warning("cannot compile %s: %s", po, exc)


def install(app: Flask) -> None:
    compile_catalogs(TRANSLATIONS)
    Babel(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(TRANSLATIONS),
    )
    app.add_url_rule("/assets/<path:name>", "assets", asset)
    app.before_request(login_page)

    @app.context_processor
    def _globals():
        return {"csrf_token": generate_csrf, "languages": LANGUAGES, "locale": select_locale}

    @app.after_request
    def _csp(response):
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    from metacrm.form_engine import (  # noqa: F401 - their routes join the blueprint
        board,
        editing,
        imports,
        lists,
        notices,
        profile,
        record_actions,
        saved_views,
        search,
    )
    from metacrm.form_engine.screens import bp, shell, sign_in

    app.before_request(sign_in)  # every /app screen, this engine's or another's
    app.context_processor(shell)
    app.extensions.setdefault("metacrm_nav", [])  # engines add {"endpoint", "label"}
    app.register_blueprint(bp)
    from metacrm.form_engine import (  # noqa: F401 - their routes join the designer
        designer_approvals,
        designer_automations,
        designer_conflicts,
        designer_entities,
        designer_fields,
        designer_history,
        designer_layouts,
        designer_packages,
        designer_pipeline_new,
        designer_pipelines,
        designer_pools,
        designer_roles,
    )
    from metacrm.form_engine.designer import bp as designer

    app.register_blueprint(designer)
    app.add_url_rule("/", "root", root)


def root():
    """GET /: the home page when signed in, else the login page."""
    signed_in = current_user and current_user.is_authenticated
    return redirect(url_for("screens.home") if signed_in else "/login")
