"""Settings from the environment, with the embedded default (SQLite in ./instance)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    redis_url: str | None = None
    schema_prefix: str = "metacrm_"
    default_tenant: str = "default"
    packages: tuple[Path, ...] = ()
    plugins: tuple[str, ...] = ()
    testing: bool = False
    timezone: str = "UTC"
    base_domain: str | None = None  # tenants as subdomains: <tenant>.<base_domain>
    trusted_proxies: int = 0  # proxies in front whose X-Forwarded-For/-Proto to believe
    job_queue: str = "metacrm"  # the rq queue name (with Redis)
    job_retry_seconds: float = 10.0  # first retry after this, doubling each attempt
    job_max_attempts: int = 5  # then the event goes to the dead-letter list
    job_lease_seconds: float = 300.0  # a claimed event not finished by then is run again
    smtp_host: str | None = None  # outgoing mail (automations' email action)
    smtp_port: int = 25
    smtp_from: str = "metacrm@localhost"
    webhook_timeout: float = 10.0
    webhook_allow_private: bool = False  # let webhooks call loopback/private addresses
    session_idle_minutes: int = 120  # a browser session unused this long signs out
    max_upload_mb: int = 100  # the largest request body (uploads, imports); fields may say less
    extra: dict = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **kwargs) -> Settings:
        return replace(self, **kwargs)


def _secret_key(data_dir: Path) -> str:
    """Use METACRM_SECRET_KEY, else a key persisted in the data dir (stable across restarts)."""
    if os.environ.get("METACRM_SECRET_KEY"):
        return os.environ["METACRM_SECRET_KEY"]
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def settings_from_env(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("METACRM_DATA_DIR", "instance")).resolve()
    url = env.get("METACRM_DATABASE_URL") or f"sqlite:///{data_dir / 'control.sqlite3'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key=overrides.pop("secret_key", None) or _secret_key(data_dir),
        redis_url=env.get("METACRM_REDIS_URL"),
        schema_prefix=env.get("METACRM_SCHEMA_PREFIX", "metacrm_"),
        packages=tuple(Path(p) for p in env.get("METACRM_PACKAGES", "").split(os.pathsep) if p),
        plugins=tuple(p for p in env.get("METACRM_PLUGINS", "").split(",") if p),
        timezone=env.get("METACRM_TIMEZONE", "UTC"),
        base_domain=env.get("METACRM_BASE_DOMAIN") or None,
        trusted_proxies=int(env.get("METACRM_TRUSTED_PROXIES", "0")),
        job_queue=env.get("METACRM_JOB_QUEUE", "metacrm"),
        job_retry_seconds=float(env.get("METACRM_JOB_RETRY_SECONDS", "10")),
        job_max_attempts=int(env.get("METACRM_JOB_MAX_ATTEMPTS", "5")),
        job_lease_seconds=float(env.get("METACRM_JOB_LEASE_SECONDS", "300")),
        smtp_host=env.get("METACRM_SMTP_HOST"),
        smtp_port=int(env.get("METACRM_SMTP_PORT", "25")),
        smtp_from=env.get("METACRM_SMTP_FROM", "metacrm@localhost"),
        webhook_timeout=float(env.get("METACRM_WEBHOOK_TIMEOUT", "10")),
        webhook_allow_private=env.get("METACRM_WEBHOOK_ALLOW_PRIVATE", "").lower()
        in ("1", "true", "yes"),
        session_idle_minutes=int(env.get("METACRM_SESSION_IDLE_MINUTES", "120")),
        max_upload_mb=int(env.get("METACRM_MAX_UPLOAD_MB", "100")),
    )
    return settings.with_overrides(**overrides) if overrides else settings
