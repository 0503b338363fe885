"""`POST /notifications/qbo`: QuickBooks Online's change notifications (webhooks) come in.

Public (Intuit cannot send our API key): the `intuit-signature` header, an HMAC of the body
keyed with the app's verifier token (`LEDGERBRIDGE_QBO_WEBHOOK_VERIFIER_TOKEN`), is the
authentication. The answer comes at once: Intuit wants a 200 "within 3 seconds" and retries
otherwise (webhooks best practices page), so the route only queues runs
(`sync/notifications.py`); the scheduler does the reading.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from ledgerbridge.api.deps import EngineDep, SettingsDep, SyncDep
from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import utcnow
from ledgerbridge.observability import metrics
from ledgerbridge.parsing import ParseError
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sync.notifications import SignatureRefusedError, request_runs, verify_and_read
from ledgerbridge.threads import in_thread

router = APIRouter(tags=["notifications"])

MAX_BODY = 1_048_576
"""Bytes. Intuit's batches are a few kilobytes; anything far larger is refused unread."""

_PAYLOADS = {
    "oneOf": [
        {
            "type": "object",
            "description": "Intuit's legacy format.",
            "properties": {"eventNotifications": {"type": "array", "items": {"type": "object"}}},
            "required": ["eventNotifications"],
        },
        {
            "type": "array",
            "description": "CloudEvents, Intuit's format since 2026.",
            "items": {"type": "object"},
        },
    ]
}


class NotificationReceipt(BaseModel):
    changes: int = Field(description="Customer changes the notification reported.")
    accounts: int = Field(description="Realms they were in.")
    connections: int = Field(description="Connections to those realms.")
    runs_requested: int = Field(
        description="Incremental runs queued (none where one is waiting already or a run "
        "that started after the change reads it)."
    )


async def _bounded_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            metrics.NOTIFICATIONS_REFUSED.labels("qbo", "too_large").inc()
            raise ApiError(413, "too_large", f"a notification is at most {MAX_BODY} bytes")
    return bytes(body)


@router.post(
    "/notifications/qbo",
    response_model=NotificationReceipt,
    summary="Take a QuickBooks Online change notification (signed by Intuit; no API key)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _PAYLOADS}}}
    },
)
async def qbo_notification(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    sync: SyncDep,
    intuit_signature: Annotated[
        str | None,
        Header(
            alias="intuit-signature",
            description="Base64 HMAC-SHA256 of the body, keyed with the verifier token.",
        ),
    ] = None,
) -> NotificationReceipt:
    platform = get_platform("qbo")
    assert platform.notifications is not None
    token = getattr(settings, platform.notifications.token_setting)
    if not token:
        metrics.NOTIFICATIONS_REFUSED.labels("qbo", "not_configured").inc()
        # 404, not 503: on this server the endpoint does not exist (nothing will change
        # by retrying), and a 5xx would invite Intuit to retry for days.
        raise ApiError(
            404,
            "notifications_not_configured",
            "QuickBooks Online notifications are off: set LEDGERBRIDGE_QBO_WEBHOOK_VERIFIER_"
            "TOKEN to your Intuit app's webhook verifier token",
        )
    body = await _bounded_body(request)
    try:
        changes = verify_and_read(
            platform.notifications,
            provider="qbo",
            body=body,
            signature=intuit_signature,
            token=token,
        )
    except SignatureRefusedError as exc:
        raise ApiError(401, "bad_signature", str(exc)) from None
    except ParseError as exc:
        raise ApiError(
            400, "invalid_notification", str(exc), [{"field": "body", "message": str(exc)}]
        ) from None
    receipt = await in_thread(
        lambda: request_runs(engine, provider="qbo", changes=changes, now=utcnow())
    )
    if receipt.runs_requested:
        sync.scheduler.wake()
    return NotificationReceipt(**receipt.__dict__)
