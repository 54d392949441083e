"""Where a webhook may go: public addresses only, unless the operator allows private ones.

An automation's webhook URL is tenant data, and the worker that calls it sits inside
the operator's network: without a check, `http://169.254.169.254/` or
`http://127.0.0.1:6379/` would be an SSRF. The host is resolved once, every address
must be public (not loopback, private, link-local, reserved, multicast or unspecified)
unless `METACRM_WEBHOOK_ALLOW_PRIVATE=true`, and the connection goes to the address that
was checked (no second lookup a DNS rebinding could answer differently). Redirects
are never followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit


class WebhookRefused(RuntimeError):
    """The target is not allowed, or answered with something that is not a success."""


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve(url: str, allow_private: bool) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, address to connect to, path) of an allowed http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("a webhook URL is http:// or https:// with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookRefused(f"the webhook host does not resolve ({exc.strerror})") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private and any(_is_private(a) for a in addresses):
        raise WebhookRefused(
            "the webhook host is a loopback, private or link-local address: refused "
            "(an operator may allow it with METACRM_WEBHOOK_ALLOW_PRIVATE=true)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, str(parts.hostname), port, addresses[0], path


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict, timeout: float, allow_private: bool) -> int:
    """POST `body` to `url`; the status of a 2xx answer, else WebhookRefused (retried)."""
    scheme, host, port, address, path = resolve(url, allow_private)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = kind(host, port, address, timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if 300 <= response.status < 400:
        raise WebhookRefused(f"the webhook answered {response.status} (redirects are not followed)")
    if response.status >= 300:
        raise WebhookRefused(f"the webhook answered {response.status}")
    return response.status
