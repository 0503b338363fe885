"""Settings, read from `LEDGERBRIDGE_*` environment variables (and a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledgerbridge.errors import ConfigurationError

_URL_FORMS = "use sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db"


class Settings(BaseSettings):
    """Everything configurable about one ledgerbridge process."""

    model_config = SettingsConfigDict(env_prefix="LEDGERBRIDGE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("."), description="Folder for the default SQLite files and the key file."
    )
    database_url: str = Field(
        default="", description="Main database; default: SQLite `ledgerbridge.db` in data_dir."
    )
    sandbox_database_url: str = Field(
        default="", description="Sandbox database; default: SQLite `ledgerbridge-sandbox.db`."
    )
    secret_key: str = Field(
        default="",
        description="Fernet key for credentials at rest; default: generated into data_dir.",
    )
    api_key: str = Field(
        default="",
        description="The operator key: every scope, any environment (the "
        "`Ledgerbridge-Environment` header, default `dev`); creates environments and keys.",
    )
    connect_session_ttl_s: int = Field(
        default=600, ge=30, le=86_400, description="How long a connect session token lives."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="", description="Where this server is reachable; default http://host:port."
    )
    keep_alive_s: int = Field(
        default=75,
        ge=1,
        description="How long (seconds) `serve` keeps an idle keep-alive connection open; "
        "keep it above the idle timeout of any load balancer in front (usually 60 s).",
    )
    scheduler: bool = Field(default=True, description="Run the sync scheduler inside `serve`.")
    sandboxes: bool = Field(
        default=True,
        description="Serve the local sandboxes under /sandbox (the demo); false in production.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level logged; `debug` adds each provider request."
    )
    log_format: Literal["console", "json"] = Field(
        default="console",
        description="`console` for people, `json` (one object a line) for log shippers.",
    )
    sync_page_size: int | None = Field(
        default=None, ge=1, description="Customers per request; default each platform's maximum."
    )
    worker_max_parallel: int = Field(
        default=16,
        ge=1,
        description="Sync runs one process (`worker` or `serve`) runs at once; runs mostly "
        "wait on the platform, so this can exceed the cores.",
    )
    worker_poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="Longest wait (seconds) between a scheduler's looks for due work; it wakes "
        "earlier when a connection falls due. Bounds how late a sync asked for through another "
        "process starts.",
    )
    run_retention_days: int = Field(
        default=30, ge=0, description="Sync runs older than this are deleted; 0 keeps all."
    )
    run_retention_keep: int = Field(
        default=20, ge=0, description="Each connection's latest runs, kept whatever their age."
    )
    webhook_retry_window_s: int = Field(
        default=3 * 86400,
        ge=1,
        description="How long a failing webhook delivery is retried (default 3 days) before "
        "it fails and its subscription is disabled.",
    )
    webhook_retry_base_s: float = Field(
        default=30.0, gt=0, description="The first webhook retry's delay; it doubles each time."
    )
    webhook_retry_cap_s: float = Field(
        default=3600.0, gt=0, description="The longest delay between webhook retries."
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="How long a webhook receiver has to answer."
    )
    webhook_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker holds a delivery; a dead worker's deliveries are "
        "taken over after this (keep it above the timeout).",
    )
    qbo_client_id: str = Field(
        default="",
        description="Your Intuit app's client id for `GET /connections/qbo/authorize`; "
        "empty: connect to the local QuickBooks Online sandbox instead.",
    )
    qbo_client_secret: str = Field(default="", description="Your Intuit app's client secret.")
    qbo_authorize_url: str = "https://appcenter.intuit.com/connect/oauth2"
    qbo_token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    qbo_api_url: str = Field(
        default="https://quickbooks.api.intuit.com",
        description="Intuit's API host (https://sandbox-quickbooks.api.intuit.com for "
        "Intuit's own sandbox companies).",
    )
    qbo_webhook_verifier_token: str = Field(
        default="",
        description="The verifier token of your Intuit app's webhook (its Webhooks page); "
        "empty: `POST /notifications/qbo` refuses every notification (404).",
    )

    @field_validator("database_url", "sandbox_database_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        if value:
            try:
                url = make_url(value)
            except ArgumentError as exc:
                raise ValueError(f"{value!r} is not a database URL; {_URL_FORMS}") from exc
            if url.get_backend_name() not in {"sqlite", "postgresql"}:
                raise ValueError(f"only SQLite and PostgreSQL are supported; {_URL_FORMS}")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def listens_on_loopback(self) -> bool:
        """Only this machine can reach the server (its sandbox admin APIs stay open)."""
        return self.host in {"127.0.0.1", "::1", "localhost"} or self.host.startswith("127.")

    @property
    def main_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledgerbridge.db'}"

    @property
    def sandbox_url(self) -> str:
        return self.sandbox_database_url or f"sqlite:///{self.data_dir / 'ledgerbridge-sandbox.db'}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead). A bad value
    is a `ConfigurationError` naming each variable at fault and what it should be."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(_settings_problems(exc)) from None


def _settings_problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"LEDGERBRIDGE_{field.upper()}: {message}")
    return "; ".join(problems)
