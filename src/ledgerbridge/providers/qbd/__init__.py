"""QuickBooks Desktop through Conductor's API: wire shapes, the pure mapper, the connector
and the local sandbox. `platform` is everything the rest of the product knows of it."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ledgerbridge.providers.plugin import Platform
from ledgerbridge.providers.qbd.connector import LIMITS, QbdConnector
from ledgerbridge.providers.qbd.mapper import mapped
from ledgerbridge.sandbox.base import LazySandbox


def _sandbox_credentials(issued: Mapping[str, str], received_at: datetime) -> dict[str, Any]:
    """Conductor's secret key and end user, as a person would paste them."""
    return {
        "api_key": issued["CONDUCTOR_SECRET_KEY"],
        "end_user_id": issued["CONDUCTOR_END_USER_ID"],
    }


sandbox = LazySandbox(
    name="qbd",
    mount_path="/sandbox/conductor/v1",
    migrations="ledgerbridge.providers.qbd.sandbox:migrations",
    migration_head="d0001",
    load="ledgerbridge.providers.qbd.sandbox:provider",
)

platform = Platform(
    name="qbd",
    title="QuickBooks Desktop (Conductor)",
    production_url="https://api.conductor.is/v1",
    credential_fields=("api_key", "end_user_id"),
    account_field="end_user_id",
    connector=QbdConnector,
    map_customer=mapped,
    limits=LIMITS,
    sandbox=sandbox,
    sandbox_credentials=_sandbox_credentials,
)
