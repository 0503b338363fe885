"""The platforms ledgerbridge connects to, with their production API hosts.

Adding a platform adds one entry here (and one folder beside this file)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    title: str
    production_url: str
    sandbox_path: str
    """Where the local sandbox of this platform is mounted on a ledgerbridge server."""
    credential_fields: tuple[str, ...]
    """What a connection's credentials must hold (the connector reads these)."""


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
        ),
    )
}
