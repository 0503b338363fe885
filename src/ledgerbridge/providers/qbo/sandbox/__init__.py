"""The QuickBooks Online sandbox provider (registered as `qbo`)."""

from __future__ import annotations

from ledgerbridge.providers.qbo.sandbox.provider import QboSandbox

provider = QboSandbox()
migrations = "ledgerbridge.providers.qbo.sandbox:migrations/versions"

__all__ = ["migrations", "provider"]
