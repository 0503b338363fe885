"""Conductor's QuickBooks Desktop customer API, served locally at `/sandbox/conductor/v1`.

Every request: secret key (401), end user (one company file), the gate (one request at a
time per company file, injected faults), then the work in a worker thread. Every failure
leaves in Conductor's error envelope with a `Conductor-Request-Id`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.json import json_response
from ledgerbridge.parsing import ParseError, load_json
from ledgerbridge.providers.qbd import wire
from ledgerbridge.providers.qbd.sandbox import query, rules, store
from ledgerbridge.providers.qbd.sandbox.end_users import PROVIDER, default_settings
from ledgerbridge.providers.qbd.sandbox.paging import (
    CURSOR_LIFETIME_KNOB,
    DEFAULT_CURSOR_LIFETIME_S,
    Cursors,
    Page,
)
from ledgerbridge.providers.qbd.sandbox.tables import deleted_customers
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.admin import Admin, AdminScope, admin_routes, install_admin
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.envelope import install_envelope, media_type
from ledgerbridge.sandbox.limits import Refusal
from ledgerbridge.threads import in_thread

log = logging.getLogger(__name__)

DELETED_RETENTION = timedelta(days=90)
"""QuickBooks Desktop reports list objects deleted in the last 90 days."""
LIST_OBJECT_TYPES = frozenset(
    wire.openapi()["components"]["schemas"]["qbd_deleted_list_object"]["properties"]["listType"][
        "enum"
    ]
)


def _refusal_error(refusal: Refusal) -> wire.ConductorError:
    if refusal.reason == "throttled":
        return wire.ConductorError(
            429,
            wire.INVALID_REQUEST_ERROR,
            "TOO_MANY_REQUESTS",
            "Too many requests for this end user; retry after the time in `Retry-After`.",
            headers={"Retry-After": str(refusal.retry_after)},
        )
    if refusal.status in (502, 503, 504):
        return wire.ConductorError(
            refusal.status,
            wire.INTEGRATION_CONNECTION_ERROR,
            "QBD_CONNECTION_ERROR",
            "QuickBooks Desktop is unreachable: the Web Connector on the end user's computer "
            "did not respond. Make sure QuickBooks Desktop and the Web Connector are running.",
            user_facing_message="We could not connect to QuickBooks Desktop. Please make sure "
            "QuickBooks Desktop and the Web Connector are running, then try again.",
        )
    if refusal.status >= 500:
        return wire.ConductorError(
            refusal.status,
            wire.INTERNAL_ERROR,
            "INTERNAL_SERVER_ERROR",
            "An internal server error occurred. Please try again.",
        )
    return wire.ConductorError(
        refusal.status, wire.INVALID_REQUEST_ERROR, "INJECTED_ERROR", "An injected sandbox error."
    )


def _json_body(raw: bytes, content_type: str) -> Any:
    """The JSON body; Conductor's API takes `application/json` only (its OpenAPI document
    lists no other request media type)."""
    if content_type not in ("application/json", ""):
        raise wire.ConductorError(
            415,
            wire.INVALID_REQUEST_ERROR,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Unsupported Content-Type {content_type!r}: send application/json.",
        )
    try:
        return load_json(raw or b"null", what="request body")
    except ParseError as exc:
        raise wire.invalid_request(f"Invalid {exc}.") from None


def _check_id(customer_id: str) -> None:
    if len(customer_id) > 36 or "\x00" in customer_id:
        raise wire.invalid_request(
            f"Invalid path parameter `id`: must be at most 36 characters, got {customer_id!r}."
        )


def _no_query(request: Request) -> None:
    for name in request.query_params:
        raise wire.invalid_request(f"Unrecognized query parameter `{name}`.")


def create_app(context: SandboxContext) -> FastAPI:
    """The sandbox app, mounted at `/sandbox/conductor/v1`."""
    app = FastAPI(title="Conductor sandbox (QuickBooks Desktop)", docs_url=None, redoc_url=None)
    cursors = Cursors()
    known_key: list[str] = []

    def secret_key() -> str:
        if not known_key:
            with write_transaction(context.engine) as connection:
                known_key.append(store.secret_key(connection, context.clock()))
        return known_key[0]

    def authenticate(request: Request) -> tuple[str, tenants.TenantSettings]:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise wire.ConductorError(
                401,
                wire.AUTHENTICATION_ERROR,
                "API_KEY_MISSING",
                "No API key provided. Set `Authorization: Bearer <secret key>`.",
                user_facing_message="An internal server error occurred. Please try again.",
            )
        if key != secret_key():
            shown = key[:8] + "..." + key[-4:] if len(key) > 12 else key
            raise wire.ConductorError(
                401,
                wire.AUTHENTICATION_ERROR,
                "API_KEY_INVALID",
                f"Invalid API key provided: '{shown}'",
                user_facing_message="An internal server error occurred. Please try again.",
            )
        end_user_id = request.headers.get("conductor-end-user-id", "").strip()
        if not end_user_id:
            raise wire.invalid_request(
                "Missing the `Conductor-End-User-Id` header: the id of the end user (the "
                "QuickBooks Desktop company file) this request is for.",
                code="MISSING_END_USER_ID",
            )
        with read_transaction(context.engine) as connection:
            settings = tenants.get_tenant(connection, PROVIDER, end_user_id)
        if settings is None:
            raise wire.resource_missing(f'No such end user: "{end_user_id}".')
        return end_user_id, settings

    async def serve(
        request: Request, work: Callable[[str, tenants.TenantSettings], Any]
    ) -> Response:
        request_id = wire.new_request_id()
        try:
            end_user_id, settings = await in_thread(authenticate, request)
            async with context.gate.enter(PROVIDER, end_user_id, settings) as refusal:
                if refusal is not None:
                    raise _refusal_error(refusal)
                body = await in_thread(work, end_user_id, settings)
        except wire.ConductorError as exc:
            headers = {**exc.headers, "Conductor-Request-Id": request_id}
            return json_response(exc.body(request_id), exc.status, headers)
        return json_response(body, 200, {"Conductor-Request-Id": request_id})

    def lifetime(settings: tenants.TenantSettings) -> float:
        return float(settings.extra.get(CURSOR_LIFETIME_KNOB, DEFAULT_CURSOR_LIFETIME_S))

    @app.get("/quickbooks-desktop/customers")
    async def list_customers(request: Request) -> Response:
        def work(end_user_id: str, settings: tenants.TenantSettings) -> dict[str, Any]:
            zone = wire.parse_offset(settings.utc_offset)
            wanted = query.parse(request.query_params, zone)
            now = context.clock()
            with read_transaction(context.engine) as connection:
                page: Page
                if wanted.cursor is not None:
                    page = cursors.next_page(
                        end_user_id, wanted.cursor, wanted.limit, now, lifetime(settings)
                    )
                elif wanted.ids or wanted.full_names:
                    # Asked by id or name: every other parameter is ignored, no paging.
                    ids = query.select_ids(connection, end_user_id, wanted)
                    page = Page(ids, None, 0, wanted.exclude_alternate_shipping)
                else:
                    ids = query.select_ids(connection, end_user_id, wanted)
                    page = cursors.first_page(
                        end_user_id,
                        ids,
                        wanted.limit,
                        now,
                        lifetime(settings),
                        wanted.exclude_alternate_shipping,
                    )
                rows = store.fetch(connection, end_user_id, page.ids)
            return {
                "objectType": "list",
                "url": wire.LIST_URL,
                "data": [store.render(r, zone, page.exclude_alternate_shipping) for r in rows],
                "nextCursor": page.next_cursor,
                "remainingCount": page.remaining_count,
                "hasMore": page.next_cursor is not None,
            }

        return await serve(request, work)

    @app.post("/quickbooks-desktop/customers")
    async def create_customer(request: Request) -> Response:
        raw = await request.body()
        content_type = media_type(request)

        def work(end_user_id: str, settings: tenants.TenantSettings) -> dict[str, Any]:
            _no_query(request)
            body = _json_body(raw, content_type)
            rules.validate(body, rules.body_schema(rules.CREATE_PATH))
            zone = wire.parse_offset(settings.utc_offset)
            with write_transaction(context.engine) as connection:
                row = store.create(connection, end_user_id, body, context.clock(), zone)
                return store.render(row, zone)

        return await serve(request, work)

    @app.get("/quickbooks-desktop/customers/{customer_id}")
    async def retrieve_customer(request: Request, customer_id: str) -> Response:
        def work(end_user_id: str, settings: tenants.TenantSettings) -> dict[str, Any]:
            _no_query(request)
            _check_id(customer_id)
            with read_transaction(context.engine) as connection:
                row = store.require(connection, end_user_id, customer_id)
            return store.render(row, wire.parse_offset(settings.utc_offset))

        return await serve(request, work)

    @app.post("/quickbooks-desktop/customers/{customer_id}")
    async def update_customer(request: Request, customer_id: str) -> Response:
        raw = await request.body()
        content_type = media_type(request)

        def work(end_user_id: str, settings: tenants.TenantSettings) -> dict[str, Any]:
            _no_query(request)
            _check_id(customer_id)
            body = _json_body(raw, content_type)
            rules.validate(body, rules.body_schema(rules.UPDATE_PATH))
            zone = wire.parse_offset(settings.utc_offset)
            with write_transaction(context.engine) as connection:
                row = store.update(
                    connection, end_user_id, customer_id, body, context.clock(), zone
                )
                return store.render(row, zone)

        return await serve(request, work)

    @app.get("/quickbooks-desktop/deleted-list-objects")
    async def deleted_list_objects(request: Request) -> Response:
        def work(end_user_id: str, settings: tenants.TenantSettings) -> dict[str, Any]:
            zone = wire.parse_offset(settings.utc_offset)
            return _deleted(context, request, end_user_id, zone)

        return await serve(request, work)

    install_admin(app, AdminScope(PROVIDER, context, default_settings), *_admin_routes())

    install_envelope(app, _framework_error)
    return app


@admin_routes
def _admin_routes(router: APIRouter) -> None:
    """Desktop's own admin route, built once a process like the tenants' (`install_admin`)."""

    @router.delete("/tenants/{end_user_id}/customers/{customer_id}", status_code=204)
    def delete_customer(end_user_id: str, customer_id: str, admin: Admin) -> Response:
        """Sandbox only (Conductor has no such endpoint): delete a customer outright, as a
        QuickBooks Desktop user can in the desktop app, so that it shows up in
        `deleted-list-objects`."""
        request_id = wire.new_request_id()
        context = admin.context
        try:
            with write_transaction(context.engine) as connection:
                if tenants.get_tenant(connection, PROVIDER, end_user_id) is None:
                    raise wire.resource_missing(f'No such end user: "{end_user_id}".')
                store.delete(connection, end_user_id, customer_id, context.clock())
        except wire.ConductorError as exc:
            headers = {"Conductor-Request-Id": request_id}
            return json_response(exc.body(request_id), exc.status, headers)
        return Response(status_code=204)


def _deleted(
    context: SandboxContext, request: Request, end_user_id: str, zone: Any
) -> dict[str, Any]:
    params = request.query_params
    for name in params:
        if name not in ("objectTypes", "deletedAfter", "deletedBefore"):
            raise wire.invalid_request(f"Unrecognized query parameter `{name}`.")
    types = query.array_param(params, "objectTypes")
    if not types:
        raise wire.invalid_request("Missing required query parameter `objectTypes`.")
    for kind in types:
        if kind not in LIST_OBJECT_TYPES:
            raise wire.invalid_request(
                f"Invalid query parameter `objectTypes`: {kind!r} is not a list-object type."
            )
    now = context.clock()
    table = deleted_customers.c
    where = [table.end_user_id == end_user_id, table.deleted_at >= now - DELETED_RETENTION]
    after, before = (
        query.single_param(params, "deletedAfter"),
        query.single_param(params, "deletedBefore"),
    )
    if after is not None:
        moment = query.local_moment(after, zone, end_of_day=False, name="deletedAfter")
        where.append(table.deleted_at >= moment)
    if before is not None:
        moment = query.local_moment(before, zone, end_of_day=True, name="deletedBefore")
        where.append(table.deleted_at < moment + timedelta(seconds=1))
    data: list[dict[str, Any]] = []
    if "customer" in types:
        with read_transaction(context.engine) as connection:
            rows = connection.execute(
                sa.select(deleted_customers).where(*where).order_by(table.deleted_at, table.id)
            )
            data = [
                {
                    "listType": "customer",
                    "id": row.id,
                    "objectType": "qbd_deleted_list_object",
                    "createdAt": wire.local_time(row.created_at, zone),
                    "deletedAt": wire.local_time(row.deleted_at, zone),
                    "fullName": row.full_name,
                }
                for row in rows
            ]
    return {"objectType": "list", "url": wire.DELETED_LIST_URL, "data": data}


def _framework_error(status: int, message: str) -> Response:
    """Unknown paths, wrong methods, oversized bodies and any surprise in Conductor's
    envelope too, with a `Conductor-Request-Id`."""
    if status == 404:
        error = wire.resource_missing("Unrecognized request URL.")
    elif status >= 500:
        error = wire.ConductorError(
            500, wire.INTERNAL_ERROR, "INTERNAL_SERVER_ERROR", "An internal error occurred."
        )
    else:
        error = wire.ConductorError(status, wire.INVALID_REQUEST_ERROR, "INVALID_REQUEST", message)
    request_id = wire.new_request_id()
    return json_response(error.body(request_id), error.status, {"Conductor-Request-Id": request_id})
