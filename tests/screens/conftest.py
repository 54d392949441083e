"""Browser tests: the app served on 127.0.0.1 by a real WSGI server in a thread, driven
by Playwright in Debian's Chromium. Without Chromium the tests skip on a developer
machine; with CI=true they fail instead (CI installs it)."""

import html
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import _env_fixture

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "output"  # screenshots for people to look at (not committed)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing ({CHROMIUM}): CI must install it")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def serve(gen):
    """(env, base URL) of an env generator's app served over HTTP, then closed."""
    env = next(gen)
    server = make_server("127.0.0.1", 0, env.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield env, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    next(gen, None)


@pytest.fixture
def site(tmp_path):
    """(env, base URL): a tenant with admin (admin-password) served over HTTP."""
    yield from serve(_env_fixture(tmp_path, "sqlite"))


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def sign_in(page, base: str, username: str = "admin", password: str = "admin-password"):
    page.goto(base + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/app")


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def current_form(client, path: str, form_class: str = "record-form") -> dict[str, list[str]]:
    """The values of the page's form (the first of `form_class`) as a browser would post
    them unchanged: inputs, ticked boxes, chosen options."""
    page = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    page = page[page.index(f'class="{form_class}') :]
    page = page[: page.index("</form>")]
    form: dict[str, list[str]] = {}
    for tag in re.findall(r"<(?:input|textarea)[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if not name or (kind and kind.group(1) in ("checkbox", "radio") and "checked" not in tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        form.setdefault(name.group(1), []).append(html.unescape(value.group(1)) if value else "")
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        form[name] = [html.unescape(body)]
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        first = re.search(r'<option value="([^"]*)"', options)
        form.setdefault(name, []).append(html.unescape((chosen or first).group(1)))
    return form
