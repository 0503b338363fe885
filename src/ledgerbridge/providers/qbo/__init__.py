"""QuickBooks Online: wire shapes, the pure mapper, the connector, the OAuth connect flow
and the local sandbox. `platform` is everything the rest of the product knows of it."""

from ledgerbridge.providers.plugin import Platform
from ledgerbridge.providers.qbo.connector import LIMITS, QboConnector
from ledgerbridge.providers.qbo.mapper import mapped
from ledgerbridge.providers.qbo.notifications import IntuitNotifications
from ledgerbridge.providers.qbo.oauth import IntuitConnect, sandbox_credentials
from ledgerbridge.sandbox.base import LazySandbox

sandbox = LazySandbox(
    name="qbo",
    mount_path="/sandbox/qbo",
    migrations="ledgerbridge.providers.qbo.sandbox:migrations/versions",
    migration_head="q0003",
    load="ledgerbridge.providers.qbo.sandbox:provider",
)

platform = Platform(
    name="qbo",
    title="QuickBooks Online",
    production_url="https://quickbooks.api.intuit.com",
    credential_fields=("realm_id", "client_id", "client_secret", "refresh_token"),
    account_field="realm_id",
    connector=QboConnector,
    map_customer=mapped,
    limits=LIMITS,
    sandbox=sandbox,
    sandbox_credentials=sandbox_credentials,
    oauth=IntuitConnect(),
    notifications=IntuitNotifications(),
)
