"""QuickBooks Online: wire shapes, the pure mapper, the connector, the OAuth connect flow
and the local sandbox. `platform` is everything the rest of the product knows of it."""

from ledgerbridge.providers.plugin import Platform, RequestLimits
from ledgerbridge.providers.qbo.connector import QboConnector
from ledgerbridge.providers.qbo.mapper import mapped
from ledgerbridge.providers.qbo.oauth import IntuitConnect, sandbox_credentials
from ledgerbridge.providers.qbo.sandbox import provider as sandbox

platform = Platform(
    name="qbo",
    title="QuickBooks Online",
    production_url="https://quickbooks.api.intuit.com",
    credential_fields=("realm_id", "client_id", "client_secret", "refresh_token"),
    connector=QboConnector,
    map_customer=mapped,
    # Intuit's published limits per realm and app: 10 concurrent, 500 a minute.
    limits=RequestLimits(max_concurrent=10, per_minute=500),
    sandbox=sandbox,
    sandbox_credentials=sandbox_credentials,
    oauth=IntuitConnect(),
)
