"""Which connector serves which provider. Adding a platform adds one line here."""

from __future__ import annotations

import importlib

from ledgerbridge.providers.base import ConnectorFactory

_CONNECTORS = {
    "qbo": "ledgerbridge.providers.qbo.connector:QboConnector",
    "qbd": "ledgerbridge.providers.qbd.connector:QbdConnector",
    "intacct": "ledgerbridge.providers.intacct.connector:IntacctConnector",
}


def connector_factory(provider: str) -> ConnectorFactory:
    """The provider's connector class (imported on first use); its keyword-only
    constructor is the `ConnectorFactory`."""
    module_name, _, class_name = _CONNECTORS[provider].partition(":")
    factory: ConnectorFactory = getattr(importlib.import_module(module_name), class_name)
    return factory
