"""The sync tests run against a QuickBooks Online sandbox realm on a loopback port."""

from providers.qbo.live_sync import app_client, env, qbo

__all__ = ["app_client", "env", "qbo"]
