"""The platforms ledgerbridge connects to, with their production API hosts.

Adding a platform adds one entry here (and one folder beside this file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field


class ConnectionSettings(BaseModel):
    """Per-connection sync options of a platform, stored on the connection and handed to
    its connector as `ConnectorSettings.extra`. A platform without any takes none."""

    model_config = ConfigDict(extra="forbid")


class IntacctConnectionSettings(ConnectionSettings):
    reconcile_every: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Intacct reports no hard deletes: every full run, and every Nth "
        "incremental run, lists every key to find them. Default 10.",
    )


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    title: str
    production_url: str
    sandbox_path: str
    """Where the local sandbox of this platform is mounted on a ledgerbridge server."""
    credential_fields: tuple[str, ...]
    """What a connection's credentials must hold (the connector reads these)."""
    settings: type[ConnectionSettings] = field(default=ConnectionSettings)
    """The per-connection options it accepts (`POST /connections`' `settings`)."""


PROVIDERS: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        ProviderInfo(
            "qbo",
            "QuickBooks Online",
            "https://quickbooks.api.intuit.com",
            "/sandbox/qbo",
            ("realm_id", "client_id", "client_secret", "refresh_token"),
        ),
        ProviderInfo(
            "qbd",
            "QuickBooks Desktop (Conductor)",
            "https://api.conductor.is/v1",
            "/sandbox/conductor/v1",
            ("api_key", "end_user_id"),
        ),
        ProviderInfo(
            "intacct",
            "Sage Intacct",
            "https://api.intacct.com/ia/api/v1",
            "/sandbox/intacct/ia/api/v1",
            ("client_id", "client_secret", "username"),
            IntacctConnectionSettings,
        ),
    )
}
