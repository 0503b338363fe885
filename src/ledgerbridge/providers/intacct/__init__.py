"""Sage Intacct: wire shapes, the pure mapper, the connector and the local sandbox.
`platform` is everything the rest of the product knows of it."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from ledgerbridge.providers.intacct.connector import LIMITS, IntacctConnector
from ledgerbridge.providers.intacct.mapper import mapped
from ledgerbridge.providers.intacct.wire import API_PREFIX
from ledgerbridge.providers.plugin import ConnectionSettings, Platform
from ledgerbridge.sandbox.base import LazySandbox

sandbox = LazySandbox(
    name="intacct",
    mount_path=f"/sandbox/intacct{API_PREFIX}",
    migrations="ledgerbridge.providers.intacct.sandbox:migrations",
    migration_head="i0003",
    load="ledgerbridge.providers.intacct.sandbox:provider",
)


class IntacctConnectionSettings(ConnectionSettings):
    reconcile_every: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Intacct reports no hard deletes: every full run, and every Nth "
        "incremental run, lists every key to find them. Default 10.",
    )


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
    limits=LIMITS,
    sandbox=sandbox,
    sandbox_credentials=_sandbox_credentials,
    settings=IntacctConnectionSettings,
)
