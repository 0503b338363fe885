"""The admin API every sandbox mounts under `{mount}/_admin`: create tenants and turn their
knobs (limits, injected faults, latency, token lifetime) while the sandbox is running."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from pydantic import ValidationError
from starlette.routing import BaseRoute

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext


@dataclass(frozen=True)
class AdminScope:
    """What one sandbox's admin routes act on, kept on its app's state. `on_create(tenant_id)`
    runs after a tenant is first made (a provider may need rows of its own, like a
    QuickBooks company record)."""

    provider: str
    context: SandboxContext
    defaults: Callable[[], tenants.TenantSettings]
    on_create: Callable[[str], None] | None = None


def admin_scope(request: Request) -> AdminScope:
    """The dependency giving an admin route its sandbox: the scope `install_admin` kept on
    the state of the sandbox app the request reached."""
    scope: AdminScope = request.app.state.sandbox_admin
    return scope


Admin = Annotated[AdminScope, Depends(admin_scope)]


def require_admin_key(request: Request) -> None:
    """Guards every admin route: open on loopback (the demo); beyond it, only with an API
    key of the server."""
    check = admin_scope(request).context.admin_key_check
    if check is None:
        return
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not check(key.strip()):
        raise HTTPException(
            401,
            "the sandbox admin API needs `Authorization: Bearer <api key>` when the "
            "server listens beyond loopback",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminRoutes = Callable[[], tuple[BaseRoute, ...]]
"""A sandbox's admin routes, built on first call and the same ones after."""


def admin_routes(declare: Callable[[APIRouter], None]) -> AdminRoutes:
    """The admin routes `declare` makes on the router it is given: under `/_admin`, each
    guarded by `require_admin_key`, built once a process (`install_admin` says why). Every
    admin route is made this way (the tenants', and each provider's own: QuickBooks
    Online's webhook settings and merge, Desktop's delete), so none can miss the guard."""

    @functools.cache
    def built() -> tuple[BaseRoute, ...]:
        router = APIRouter(
            prefix="/_admin", tags=["sandbox admin"], dependencies=[Depends(require_admin_key)]
        )
        declare(router)
        return tuple(router.routes)

    return built


def install_admin(app: FastAPI, scope: AdminScope, *routes: BaseRoute) -> None:
    """The admin API on a sandbox's app (`routes`: a provider's own admin routes besides
    the tenants', made by `admin_routes` as these are).

    The routes are built once a process and shared by every sandbox app it makes: FastAPI
    and pydantic analyse a route's parameters when it is made (about 1 ms each), and the
    test suite makes a sandbox's app for nearly every test (the tenants' routes alone were
    4 ms of each). They find their sandbox through the request (`admin_scope`), never a
    closure, as the unified API's routers do (`api.app._included_routes`)."""
    app.state.sandbox_admin = scope
    app.router.routes.extend((*_tenant_routes(), *routes))


@admin_routes
def _tenant_routes(router: APIRouter) -> None:
    @router.get("/tenants")
    def list_tenants(admin: Admin) -> dict[str, Any]:
        with read_transaction(admin.context.engine) as connection:
            found = tenants.list_tenants(connection, admin.provider)
        return {"tenants": [tenant_id for _, tenant_id in found]}

    @router.get("/tenants/{tenant_id}")
    def get_tenant(tenant_id: str, admin: Admin) -> dict[str, Any]:
        with read_transaction(admin.context.engine) as connection:
            settings = tenants.get_tenant(connection, admin.provider, tenant_id)
        if settings is None:
            raise HTTPException(404, f"no {admin.provider} sandbox tenant {tenant_id!r}")
        return {"tenant_id": tenant_id, "settings": settings.model_dump(mode="json")}

    @router.put("/tenants/{tenant_id}")
    def put_tenant(
        tenant_id: str, admin: Admin, changes: dict[str, Any] = Body(default_factory=dict)
    ) -> dict[str, Any]:
        """Create the tenant if new, then apply `changes` to its settings."""
        provider, context = admin.provider, admin.context
        with write_transaction(context.engine) as connection:
            created = tenants.get_tenant(connection, provider, tenant_id) is None
            tenants.ensure_tenant(
                connection, provider, tenant_id, admin.defaults(), context.clock()
            )
            try:
                settings = tenants.update_tenant(connection, provider, tenant_id, changes)
            except ValidationError as exc:
                raise refused(exc) from exc
        if created and admin.on_create is not None:
            admin.on_create(tenant_id)
        return {"tenant_id": tenant_id, "settings": settings.model_dump(mode="json")}

    @router.patch("/tenants/{tenant_id}")
    def patch_tenant(
        tenant_id: str, admin: Admin, changes: dict[str, Any] = Body(...)
    ) -> dict[str, Any]:
        with write_transaction(admin.context.engine) as connection:
            try:
                settings = tenants.update_tenant(connection, admin.provider, tenant_id, changes)
            except KeyError as exc:
                raise HTTPException(
                    404, f"no {admin.provider} sandbox tenant {tenant_id!r}"
                ) from exc
            except ValidationError as exc:
                raise refused(exc) from exc
        return {"tenant_id": tenant_id, "settings": settings.model_dump(mode="json")}


def refused(exc: ValidationError, what: str = "tenant settings") -> HTTPException:
    """A 422 saying which knobs are wrong and why, in one line a person can act on (each
    sandbox renders it in its platform's envelope, where a list would come out as a
    Python repr)."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )
    return HTTPException(422, f"invalid {what}: {problems}")
