"""The sandboxes page: every tenant of every sandbox with its customer count and knobs,
and the seed and reset buttons. Knob changes go through `configure_tenant` (the CLI's
`sandbox configure`), seeding and resetting through each sandbox's own `seed`/`reset`
(the CLI's `sandbox seed`/`reset`)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction
from ledgerbridge.parsing import parse_int
from ledgerbridge.providers.registry import PLATFORMS, get_platform
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.configure import configure_tenant
from ledgerbridge.threads import in_thread
from ledgerbridge.ui.render import PageRoute, page
from ledgerbridge.ui.session import SessionDep, checked_form, require_session

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(require_session)]
)

KNOBS = ("requests_per_minute", "max_concurrent", "error_rate", "error_statuses", "latency_ms")
"""The knobs the page edits: limits, faults and latency (the CLI reaches every knob)."""
MAX_SEED = 10_000
"""Customers one press of the seed button adds (larger seeds: the CLI, with progress)."""


@dataclass(frozen=True)
class TenantView:
    provider: str
    tenant_id: str
    customers: int
    knobs: dict[str, str]


def _context(request: Request) -> SandboxContext:
    if not request.app.state.settings.sandboxes:
        raise ApiError(404, "sandboxes_off", "The sandboxes are off (LEDGERBRIDGE_SANDBOXES).")
    context: SandboxContext = request.app.state.sandbox
    return context


def _knob_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@router.get("/ui/sandboxes")
def sandboxes_page(request: Request) -> Response:
    context = _context(request)
    with read_transaction(context.engine) as conn:
        found = tenants.list_tenants(conn)
        settings = {key: tenants.get_tenant(conn, *key) for key in found}
    views = []
    for provider, tenant_id in found:
        knobs = settings[(provider, tenant_id)]
        views.append(
            TenantView(
                provider=provider,
                tenant_id=tenant_id,
                customers=get_platform(provider).sandbox.customer_count(context, tenant_id),
                knobs={k: _knob_text(getattr(knobs, k)) for k in KNOBS if knobs is not None},
            )
        )
    return page(
        request, "sandboxes.html", tenants=views, providers=list(PLATFORMS), max_seed=MAX_SEED
    )


def _knob_pair(name: str, value: str) -> str:
    """A form field as the CLI's KEY=VALUE: empty turns a limit off, statuses are a list."""
    value = value.strip()
    if name == "error_statuses":
        return f"{name}=[{value}]"
    return f"{name}={value or 'none'}"


def _back(request: Request, done: str) -> Response:
    return RedirectResponse(
        request.url_for("sandboxes_page").include_query_params(done=done), status_code=303
    )


def _provider(name: str) -> str:
    if name not in PLATFORMS:
        raise ApiError(404, "unknown_provider", f"No sandbox of provider {name!r}.")
    return name


@router.post("/ui/sandboxes/{provider}/{tenant_id}/knobs")
async def change_knobs(
    request: Request, session: SessionDep, provider: str, tenant_id: str
) -> Response:
    form = await checked_form(request, session)
    context = _context(request)
    pairs = [_knob_pair(name, form[name]) for name in KNOBS if name in form]
    configure_tenant(context.engine, _provider(provider), tenant_id, pairs)
    return _back(request, f"Knobs of {provider} tenant {tenant_id} saved.")


@router.post("/ui/sandboxes/seed")
async def seed(request: Request, session: SessionDep) -> Response:
    form = await checked_form(request, session)
    context = _context(request)
    provider = _provider(form.get("provider", ""))
    tenant_id = form.get("tenant_id", "").strip()
    if not tenant_id or len(tenant_id) > 128:
        raise ApiError(400, "invalid_tenant", "A tenant id of 1 to 128 characters is needed.")
    count = parse_int(form.get("customers", ""), minimum=1, maximum=MAX_SEED, what="customers")
    sandbox = get_platform(provider).sandbox
    result = await in_thread(sandbox.seed, context, tenant_id, count, None)
    return _back(request, f"Added {result.customers:,} customers to {provider} {tenant_id}.")


@router.post("/ui/sandboxes/{provider}/{tenant_id}/reset")
async def reset(request: Request, session: SessionDep, provider: str, tenant_id: str) -> Response:
    form = await checked_form(request, session)
    context = _context(request)
    if form.get("confirm") != "yes":
        raise ApiError(400, "not_confirmed", "Tick the box to confirm the reset.")
    get_platform(_provider(provider)).sandbox.reset(context, tenant_id)
    return _back(request, f"Deleted the sandbox data of {provider} tenant {tenant_id}.")
