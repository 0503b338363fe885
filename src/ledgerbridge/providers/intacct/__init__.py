"""Sage Intacct: wire shapes, the pure mapper, the connector and the local sandbox.
`platform` is everything the rest of the product knows of it."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ledgerbridge.providers.intacct.connector import IntacctConnector
from ledgerbridge.providers.intacct.mapper import mapped
from ledgerbridge.providers.intacct.sandbox import provider as sandbox
from ledgerbridge.providers.plugin import Platform, RequestLimits


def _sandbox_credentials(issued: Mapping[str, str], received_at: datetime) -> dict[str, Any]:
    """Client credentials only: the connector asks for its own token, as in production."""
    return {key: issued[key] for key in ("client_id", "client_secret", "username")}


platform = Platform(
    name="intacct",
    title="Sage Intacct",
    production_url="https://api.intacct.com/ia/api/v1",
    credential_fields=("client_id", "client_secret", "username"),
    connector=IntacctConnector,
    map_customer=mapped,
    # Intacct's documented limit is concurrent requests per company and tier (two on the
    # lowest tier, the sandbox's default); the monthly transaction allowances are billed,
    # not enforced, and no per-minute limit is published: the per-minute ceiling is only a
    # courtesy, far above what a sequential sync sends.
    limits=RequestLimits(max_concurrent=2, per_minute=600),
    sandbox=sandbox,
    sandbox_credentials=_sandbox_credentials,
)
