"""Webhook signatures, as Stripe signs its events: one header

    Ledgerbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

keyed with the subscription's secret. The timestamp is signed with the body, so a receiver
that refuses timestamps older than a few minutes refuses replays. Source: Stripe's
"Verify webhook signatures manually" (`Stripe-Signature: t=...,v1=...`, HMAC-SHA256 of
`timestamp.payload`, compared in constant time, five minutes' tolerance).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Ledgerbridge-Signature"
TOLERANCE_S = 300
"""How old a signed timestamp a receiver should accept (the README's recipe uses it)."""


def new_secret() -> str:
    """A signing secret: 32 random bytes, with a prefix that says what it is."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, now: int) -> bool:
    """Whether `header` signs `body` with `secret` at a time within `TOLERANCE_S` of `now`
    (what a receiver does; the tests check deliveries with it)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = fields.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_S:
        return False
    expected = sign(secret, body, int(timestamp)).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
