"""The admin API every sandbox mounts under `{mount}/_admin`: create tenants and turn their
knobs (limits, injected faults, latency, token lifetime) while the sandbox is running."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import ValidationError

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext


def admin_key_required(context: SandboxContext) -> Any:
    """The dependency guarding every admin route: open on loopback (the demo); beyond it,
    only with an API key of the server."""

    def require_admin_key(request: Request) -> None:
        if context.admin_key_check is None:
            return
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not context.admin_key_check(key.strip()):
            raise HTTPException(
                401,
                "the sandbox admin API needs `Authorization: Bearer <api key>` when the "
                "server listens beyond loopback",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(require_admin_key)


def admin_router(
    provider: str,
    context: SandboxContext,
    defaults: Callable[[], tenants.TenantSettings],
    on_create: Callable[[str], None] | None = None,
) -> APIRouter:
    """Routes for one provider. `on_create(tenant_id)` runs after a tenant is first made
    (a provider may need rows of its own, like a QuickBooks company record)."""

    router = APIRouter(
        prefix="/_admin", tags=["sandbox admin"], dependencies=[admin_key_required(context)]
    )

    @router.get("/tenants")
    def list_tenants() -> dict[str, Any]:
        with read_transaction(context.engine) as connection:
            found = tenants.list_tenants(connection, provider)
        return {"tenants": [tenant_id for _, tenant_id in found]}

    @router.get("/tenants/{tenant_id}")
    def get_tenant(tenant_id: str) -> dict[str, Any]:
        with read_transaction(context.engine) as connection:
            settings = tenants.get_tenant(connection, provider, tenant_id)
        if settings is None:
            raise HTTPException(404, f"no {provider} sandbox tenant {tenant_id!r}")
        return {"tenant_id": tenant_id, "settings": settings.model_dump(mode="json")}

    @router.put("/tenants/{tenant_id}")
    def put_tenant(
        tenant_id: str, changes: dict[str, Any] = Body(default_factory=dict)
    ) -> dict[str, Any]:
        """Create the tenant if new, then apply `changes` to its settings."""
        with write_transaction(context.engine) as connection:
            created = tenants.get_tenant(connection, provider, tenant_id) is None
            tenants.ensure_tenant(connection, provider, tenant_id, defaults(), context.clock())
            try:
                settings = tenants.update_tenant(connection, provider, tenant_id, changes)
            except ValidationError as exc:
                raise refused(exc) from exc
        if created and on_create is not None:
            on_create(tenant_id)
        return {"tenant_id": tenant_id, "settings": settings.model_dump(mode="json")}

    @router.patch("/tenants/{tenant_id}")
    def patch_tenant(tenant_id: str, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
        with write_transaction(context.engine) as connection:
            try:
                settings = tenants.update_tenant(connection, provider, tenant_id, changes)
            except KeyError as exc:
                raise HTTPException(404, f"no {provider} sandbox tenant {tenant_id!r}") from exc
            except ValidationError as exc:
                raise refused(exc) from exc
        return {"tenant_id": tenant_id, "settings": settings.model_dump(mode="json")}

    return router


def refused(exc: ValidationError, what: str = "tenant settings") -> HTTPException:
    """A 422 saying which knobs are wrong and why, in one line a person can act on (each
    sandbox renders it in its platform's envelope, where a list would come out as a
    Python repr)."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )
    return HTTPException(422, f"invalid {what}: {problems}")
