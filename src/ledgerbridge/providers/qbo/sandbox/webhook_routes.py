"""The sandbox admin API's webhook routes: an app's endpoint URL, verifier token, payload
format and delivery knobs (what Intuit's developer portal sets), and delivery figures."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from pydantic import ValidationError

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.providers.qbo.sandbox import notifications
from ledgerbridge.sandbox.admin import Admin, admin_routes, refused


@admin_routes
def webhook_routes(router: APIRouter) -> None:
    """The routes, built once a process for every sandbox app (`admin.install_admin`)."""

    def answer(client_id: str, settings: notifications.WebhookSettings) -> dict[str, Any]:
        return {"client_id": client_id, "webhook": settings.model_dump(mode="json")}

    @router.get("/apps/{client_id}/webhook")
    def get_webhook(client_id: str, admin: Admin) -> dict[str, Any]:
        with read_transaction(admin.context.engine) as connection:
            settings = notifications.get_webhook(connection, client_id)
        if settings is None:
            raise HTTPException(404, f"the app {client_id!r} has no webhook")
        return answer(client_id, settings)

    @router.put("/apps/{client_id}/webhook")
    def put_webhook(
        client_id: str, admin: Admin, changes: dict[str, Any] = Body(...)
    ) -> dict[str, Any]:
        """Set the app's webhook; fields left out keep their current (or default) value."""
        context = admin.context
        with write_transaction(context.engine) as connection:
            if not notifications.app_exists(connection, client_id):
                raise HTTPException(404, f"no qbo sandbox app {client_id!r}")
            try:
                settings = notifications.put_webhook(
                    connection, client_id, changes, context.clock()
                )
            except ValidationError as exc:
                raise refused(exc, "webhook settings") from exc
        return answer(client_id, settings)

    @router.delete("/apps/{client_id}/webhook", status_code=204)
    def delete_webhook(client_id: str, admin: Admin) -> None:
        with write_transaction(admin.context.engine) as connection:
            if not notifications.delete_webhook(connection, client_id):
                raise HTTPException(404, f"the app {client_id!r} has no webhook")

    @router.get("/webhooks/stats")
    def webhook_stats() -> dict[str, int]:
        """What this process did with notifications since it started."""
        return asdict(notifications.STATS)
