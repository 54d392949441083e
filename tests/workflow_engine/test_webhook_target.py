"""Webhooks never reach the operator's own network (SSRF), follow no redirects, and are
signed with each tenant's own key."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metacrm.workflow_engine.outbound import signature
from metacrm.workflow_engine.webhook_target import WebhookRefused, post, resolve
from tests.conftest import env_with
from tests.metadata.helpers import write_package


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/",
        "http://172.16.5.5/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",  # carrier-grade NAT
    ],
)
def test_private_targets_are_refused(url):
    with pytest.raises(WebhookRefused, match="loopback, private or link-local"):
        resolve(url, allow_private=False)


def test_only_http_urls_with_a_host():
    for url in ("file:///etc/passwd", "gopher://example.com/", "http:///nohost", "ftp://1.1.1.1/"):
        with pytest.raises(WebhookRefused, match="http:// or https://"):
            resolve(url, allow_private=False)


def test_a_public_address_is_allowed_and_pinned():
    assert resolve("https://93.184.216.34:8443/in?x=1", allow_private=False) == (
        "https",
        "93.184.216.34",
        8443,
        "93.184.216.34",
        "/in?x=1",
    )


@pytest.fixture
def receiver():
    calls = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((self.path, dict(self.headers), body))
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            else:
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_port}", calls
    http.shutdown()


def test_redirects_are_not_followed(receiver):
    base, calls = receiver
    with pytest.raises(WebhookRefused, match="answered 302 \\(redirects are not followed\\)"):
        post(base + "/moved", b"{}", {}, 5, allow_private=True)
    assert [c[0] for c in calls] == ["/moved"]
    assert post(base + "/ok", b"{}", {}, 5, allow_private=True) == 204


def hook_pack(tmp_path, url):
    return write_package(
        tmp_path / "pkgs",
        "hooks",
        files={
            "automations/hook.yaml": "name: hook\nentity: account\ntrigger: {on: created}\n"
            f"actions:\n  - webhook: {{url: '{url}'}}\n"
        },
    )


def test_an_automation_webhook_to_loopback_fails_without_calling_it(tmp_path, backend, receiver):
    base, calls = receiver
    with env_with(tmp_path, backend, (hook_pack(tmp_path, base + "/in"),)) as env:
        rid = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
        assert calls == []
        log = env.api.get(f"/api/v1/records/account/{rid}/executions").json["data"]
        failed = [x for x in log if x["topic"] == "webhook.call"]
        assert [x["status"] for x in failed] == ["error"], log
        assert "loopback, private or link-local" in failed[0]["detail"]
        assert "127.0.0.1" not in json.dumps(log)  # no URL in the log


def test_each_tenant_signs_with_its_own_rotatable_key(tmp_path, backend, receiver):
    base, calls = receiver
    with env_with(
        tmp_path, backend, (hook_pack(tmp_path, base + "/in"),), webhook_allow_private=True
    ) as env:
        env.api.post("/api/v1/records/account", json={"name": "Acme"})
        first = env.api.get("/api/v1/admin/webhook-secret").json["secret"]
        _, headers, body = calls[-1]
        assert headers["X-Metacrm-Signature"] == signature(first, body)
        assert env.user_api.get("/api/v1/admin/webhook-secret").status_code == 403
        rotated = env.api.post("/api/v1/admin/webhook-secret/rotate").json["secret"]
        assert rotated != first
        env.api.post("/api/v1/records/account", json={"name": "Bolt"})
        _, headers, body = calls[-1]
        assert headers["X-Metacrm-Signature"] == signature(rotated, body)
        other = env.runtime.tenants.create("other")
        from metacrm.platform.tenancy.secrets import get_secret

        assert get_secret(other) not in (first, rotated)
