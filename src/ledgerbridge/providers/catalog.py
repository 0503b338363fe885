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


PROVIDERS: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        ProviderInfo(
            "qbo", "QuickBooks Online", "https://quickbooks.api.intuit.com", "/sandbox/qbo"
        ),
        ProviderInfo(
            "qbd",
            "QuickBooks Desktop (Conductor)",
            "https://api.conductor.is/v1",
            "/sandbox/conductor/v1",
        ),
        ProviderInfo(
            "intacct",
            "Sage Intacct",
            "https://api.intacct.com/ia/api/v1",
            "/sandbox/intacct/ia/api/v1",
        ),
    )
}
