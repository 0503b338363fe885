"""QuickBooks Online change notifications (webhooks) as Intuit sends them: how they are
signed and what they say. The endpoint that takes them is `POST /notifications/qbo`.

- Signature: header `intuit-signature`, the base64 HMAC-SHA256 of the raw body keyed with
  the app's verifier token (Intuit's webhook docs and samples; the token is shown on the
  app's Webhooks page of the developer portal and is not the OAuth client secret).
- Two shapes, both taken: the legacy object `{"eventNotifications": [{"realmId",
  "dataChangeEvent": {"entities": [{"name", "id", "operation", "lastUpdated"}]}}]}` and the
  CloudEvents array Intuit made mandatory on 2026-05-15 (Intuit blog, "Upcoming change to
  webhooks payload structure", 2025-11-12): `[{"specversion": "1.0", "id", "source",
  "type": "qbo.customer.updated.v1", "time", "intuitentityid", "intuitaccountid", "data"}]`.
- Only the realm and the time matter here: a notification is a hint that the realm
  changed; the sync then reads the changes from the API, as Intuit advises ("use the query
  API to retrieve the current state", and CDC to catch missed events: webhooks best
  practices). Entities other than customers are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from ledgerbridge.parsing import ParseError, load_json, parse_datetime
from ledgerbridge.providers.plugin import AccountChange

MAX_CHANGES = 10_000
"""More entries than any batch Intuit sends; a longer list is refused, not processed."""


class IntuitNotifications:
    """`ChangeNotifications` of QuickBooks Online."""

    signature_header = "intuit-signature"
    token_setting = "qbo_webhook_verifier_token"

    def verify(self, body: bytes, signature: str, token: str) -> bool:
        expected = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest())
        return hmac.compare_digest(expected, signature.strip().encode())

    def changes(self, body: bytes) -> list[AccountChange]:
        document = load_json(body, what="notification")
        if isinstance(document, dict) and "eventNotifications" in document:
            found = list(_legacy(document["eventNotifications"]))
        elif isinstance(document, list):
            found = list(_cloud_events(document))
        else:
            raise ParseError(
                "notification must be Intuit's `eventNotifications` object or a CloudEvents array"
            )
        if len(found) > MAX_CHANGES:
            raise ParseError(f"notification holds more than {MAX_CHANGES} changes")
        return found


def _legacy(notifications: Any) -> list[AccountChange]:
    if not isinstance(notifications, list):
        raise ParseError("eventNotifications must be an array")
    found = []
    for notification in notifications:
        realm = _text(notification, "realmId", "eventNotifications[].realmId")
        event = notification.get("dataChangeEvent") or {}
        entities = event.get("entities") if isinstance(event, dict) else None
        if not isinstance(entities, list):
            raise ParseError("eventNotifications[].dataChangeEvent.entities must be an array")
        customers = [e for e in entities if isinstance(e, dict) and e.get("name") == "Customer"]
        for entity in customers:
            found.append(AccountChange(realm, _time(entity.get("lastUpdated"), "lastUpdated")))
    return found


def _cloud_events(events: list[Any]) -> list[AccountChange]:
    found = []
    for event in events:
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            raise ParseError("every CloudEvent needs a `type`")
        if not kind.startswith("qbo.customer."):
            continue
        realm = _text(event, "intuitaccountid", "intuitaccountid")
        found.append(AccountChange(realm, _time(event.get("time"), "time")))
    return found


def _text(holder: Any, key: str, what: str) -> str:
    value = holder.get(key) if isinstance(holder, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise ParseError(f"{what} must be a non-empty string")
    return value


def _time(value: Any, what: str) -> datetime | None:
    """The change's time, or None when the notification gives none."""
    if value is None:
        return None
    return parse_datetime(value, what=what)
