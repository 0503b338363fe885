"""Which connector serves which provider. Adding a platform adds one line here."""

from __future__ import annotations

import importlib

from ledgerbridge.providers.base import ConnectorFactory

_FACTORIES = {
    "qbo": "ledgerbridge.providers.qbo.connector",
    "qbd": "ledgerbridge.providers.qbd.connector",
    "intacct": "ledgerbridge.providers.intacct.connector",
}


def connector_factory(provider: str) -> ConnectorFactory:
    """The `open_connector` of a provider's `connector` module (imported on first use)."""
    module = importlib.import_module(_FACTORIES[provider])
    factory: ConnectorFactory = module.open_connector
    return factory
