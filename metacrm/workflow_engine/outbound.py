"""Effects outside the database, each from its own outbox event (`email.send`,
`webhook.call`) written by an automation: a failure retries with backoff and ends
on the dead-letter list, and never undoes the automation's database work.

Delivery is at least once: if the done mark fails to commit after a send, the
send repeats; receivers de-duplicate by the event id (`X-Metacrm-Event`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from email.message import EmailMessage

from metacrm.platform.jobs.handlers import EventHandler, HandlerRun
from metacrm.platform.tenancy.secrets import get_secret
from metacrm.workflow_engine.webhook_target import post


def send_email(run: HandlerRun) -> None:
    settings = run.runtime.settings
    if not settings.smtp_host:
        raise RuntimeError("no SMTP server configured (set METACRM_SMTP_HOST)")
    payload = run.event["payload"]
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(payload["to"])
    message["Subject"] = payload["subject"]
    message["X-Metacrm-Event"] = run.event["event_id"]
    message.set_content(payload["body"])
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    run.note(f"sent to {len(payload['to'])}")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def call_webhook(run: HandlerRun) -> None:
    """POST the payload, signed with the tenant's key, to a public address (see
    webhook_target); the URL stays out of the execution log, which non-admins read."""
    settings = run.runtime.settings
    payload = run.event["payload"]
    body = json.dumps(payload["body"], default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "metacrm-webhooks",
        "X-Metacrm-Event": run.event["event_id"],
        "X-Metacrm-Tenant": run.state.name,
        "X-Metacrm-Signature": signature(get_secret(run.state, conn=run.conn), body),
    }
    status = post(
        payload["url"], body, headers, settings.webhook_timeout, settings.webhook_allow_private
    )
    run.note(f"the webhook answered {status}")


HANDLERS = [
    EventHandler("email", send_email, lambda model, entity, topic: topic == "email.send"),
    EventHandler("webhooks", call_webhook, lambda model, entity, topic: topic == "webhook.call"),
]
