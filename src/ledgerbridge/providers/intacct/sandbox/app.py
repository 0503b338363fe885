"""The Intacct sandbox's HTTP API, mounted at `/sandbox/intacct/ia/api/v1`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from sqlalchemy.engine import Connection
from starlette.responses import Response

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.json import json_response
from ledgerbridge.parsing import INT32_MAX, ParseError, load_json, parse_int
from ledgerbridge.providers.intacct.sandbox import auth, entities, query, store
from ledgerbridge.providers.intacct.sandbox.auth import PROVIDER
from ledgerbridge.providers.intacct.sandbox.companies import default_settings
from ledgerbridge.providers.intacct.sandbox.entities import ENTITY_HEADER, ENTITY_PATH, Scope
from ledgerbridge.providers.intacct.wire import (
    DEFAULT_PAGE_SIZE,
    FORBIDDEN,
    INVALID_REQUEST,
    NOT_FOUND,
    OBJECT_PATH,
    OPERATION_FAILED,
    TOO_MANY_REQUESTS,
    IntacctError,
    bad_request,
)
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.admin import AdminScope, install_admin
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.envelope import install_envelope, media_type
from ledgerbridge.sandbox.oauth import AccessGrant
from ledgerbridge.threads import in_thread

_WRITE = ("POST", "PATCH", "DELETE")


def _error_response(error: IntacctError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.to_wire(), error.status, headers)


def _parse_json(raw: bytes, content_type: str) -> Any:
    """The JSON body. Sage's OpenAPI document lists `application/json` as the only request
    media type of these operations; another one is 415 in Intacct's envelope."""
    if not raw.strip():
        return None
    if content_type not in ("application/json", ""):
        raise IntacctError(
            415,
            f"Unsupported media type {content_type!r}: send application/json",
            code=INVALID_REQUEST,
            error_id="REST-1415",
            message_id="IA.UNSUPPORTED_MEDIA_TYPE",
        )
    try:
        return load_json(raw, what="The request body")
    except ParseError as exc:
        raise bad_request(str(exc), "/") from None


def _framework_error(status: int, message: str) -> Response:
    """Unknown paths, wrong methods, oversized bodies and surprises in Intacct's envelope."""
    if status == 404:
        error = IntacctError(
            404, "The requested resource was not found", code=NOT_FOUND, error_id="REST-1001"
        )
    elif status >= 500:
        error = IntacctError(
            500,
            "An internal error occurred; the request may be retried",
            code=OPERATION_FAILED,
            error_id="REST-1999",
            message_id="IA.INTERNAL_ERROR",
        )
    else:
        error = IntacctError(status, message, code=INVALID_REQUEST, error_id="REST-1001")
    return _error_response(error)


def create_app(context: SandboxContext) -> FastAPI:
    """The sandbox app for one sandbox database."""
    app = FastAPI(title="Sage Intacct sandbox", openapi_url=None, docs_url=None, redoc_url=None)
    install_admin(app, AdminScope(PROVIDER, context, default_settings))

    @app.exception_handler(IntacctError)
    async def _intacct_error(_request: Request, exc: IntacctError) -> Response:
        return _error_response(exc)

    install_envelope(app, _framework_error)

    async def serve(
        request: Request, work: Callable[[AccessGrant, Any], Response], *, body: bool = False
    ) -> Response:
        """Authenticate, pass the company's gate (limits, faults), then do `work`."""
        now = context.clock()
        raw = await request.body() if body else b""

        def authenticate() -> tuple[AccessGrant, tenants.TenantSettings]:
            with read_transaction(context.engine) as connection:
                grant = auth.authenticate(connection, request.headers.get("authorization"), now)
                settings = tenants.get_tenant(connection, PROVIDER, grant.tenant_id)
            if settings is None:  # the company was reset after the token was issued
                raise IntacctError(401, "Invalid token: the company no longer exists")
            return grant, settings

        grant, settings = await in_thread(authenticate)
        # Authenticated first: a request without a valid token is 401 whatever its body.
        payload = _parse_json(raw, media_type(request)) if body else None
        if request.method in _WRITE and settings.extra.get("read_only"):
            raise IntacctError(
                403,
                "Permission denied: this user can only list and view customers",
                code=FORBIDDEN,
                error_id="REST-1503",
                message_id="IA.PERMISSION_DENIED",
            )
        async with context.gate.enter(PROVIDER, grant.tenant_id, settings) as refusal:
            if refusal is not None:
                if refusal.status == 429:
                    seconds = str(refusal.retry_after)
                    error = IntacctError(
                        429,
                        "Too many requests: the company's concurrent request limit is reached",
                        code=TOO_MANY_REQUESTS,
                        error_id="REST-1429",
                        message_id="IA.TOO_MANY_REQUESTS",
                    )
                    headers = {"Retry-After": seconds, "x-ia-concurrency-retry-after": seconds}
                    return _error_response(error, headers)
                return _error_response(
                    IntacctError(
                        refusal.status,
                        "An injected sandbox fault: the service could not answer",
                        code=OPERATION_FAILED,
                        error_id="REST-1999",
                        message_id="IA.SANDBOX_INJECTED_FAULT",
                    )
                )
            return await in_thread(work, grant, payload)

    @app.post("/oauth2/token")
    async def token(request: Request) -> Response:
        raw = await request.body()
        if media_type(request) == "application/json":
            parsed = _parse_json(raw, "application/json")
            form = {k: str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        else:
            form = dict(parse_qsl(raw.decode(errors="replace")))
        now = context.clock()

        def grant() -> Response:
            with write_transaction(context.engine) as connection:
                pair = auth.grant_token(connection, form, now)
            return json_response(auth.token_response(pair))

        return await in_thread(grant)

    @app.get(OBJECT_PATH)
    async def list_customers(request: Request) -> Response:
        start = _query_int(request, "start", 1, INT32_MAX)
        size = _query_int(request, "size", DEFAULT_PAGE_SIZE, 4000)

        def work(grant: AccessGrant, _body: Any) -> Response:
            with read_transaction(context.engine) as connection:
                scope = _scope(connection, grant, request)
                page, total = query.list_page(
                    connection, grant.tenant_id, start, size, context.clock().date(), scope
                )
            return json_response({"ia::result": page, "ia::meta": _page_meta(start, size, total)})

        return await serve(request, work)

    @app.post(OBJECT_PATH)
    async def create_customer(request: Request) -> Response:
        def work(grant: AccessGrant, body: Any) -> Response:
            with write_transaction(context.engine) as connection:
                created = store.create_customer(
                    connection,
                    grant.tenant_id,
                    body,
                    now=context.clock(),
                    user=grant.subject,
                    scope=_scope(connection, grant, request),
                )
            return json_response({"ia::result": created, "ia::meta": _one_success()}, 201)

        return await serve(request, work, body=True)

    @app.get(OBJECT_PATH + "/{key}")
    async def get_customer(request: Request, key: str) -> Response:
        def work(grant: AccessGrant, _body: Any) -> Response:
            with read_transaction(context.engine) as connection:
                scope = _scope(connection, grant, request)
                found = store.get_customer(connection, grant.tenant_id, store.parse_key(key), scope)
            return json_response({"ia::result": found, "ia::meta": _one_success()})

        return await serve(request, work)

    @app.patch(OBJECT_PATH + "/{key}")
    async def update_customer(request: Request, key: str) -> Response:
        def work(grant: AccessGrant, body: Any) -> Response:
            with write_transaction(context.engine) as connection:
                updated = store.update_customer(
                    connection,
                    grant.tenant_id,
                    store.parse_key(key),
                    body,
                    now=context.clock(),
                    user=grant.subject,
                    scope=_scope(connection, grant, request),
                )
            return json_response({"ia::result": updated, "ia::meta": _one_success()})

        return await serve(request, work, body=True)

    @app.delete(OBJECT_PATH + "/{key}")
    async def delete_customer(request: Request, key: str) -> Response:
        def work(grant: AccessGrant, _body: Any) -> Response:
            with write_transaction(context.engine) as connection:
                scope = _scope(connection, grant, request)
                store.delete_customer(connection, grant.tenant_id, store.parse_key(key), scope)
            return Response(status_code=204)

        return await serve(request, work)

    @app.post("/services/core/query")
    async def run_query(request: Request) -> Response:
        def work(grant: AccessGrant, body: Any) -> Response:
            parsed = query.parse_request(body)
            with read_transaction(context.engine) as connection:
                scope = _scope(connection, grant, request)
                answer = query.run_query(
                    connection, grant.tenant_id, parsed, context.clock().date(), scope
                )
            return json_response(answer)

        return await serve(request, work, body=True)

    # Entities are company configuration: they are listed and created at the top level,
    # whatever entity header the request carries.
    @app.get(ENTITY_PATH)
    async def list_entities(request: Request) -> Response:
        def work(grant: AccessGrant, _body: Any) -> Response:
            with read_transaction(context.engine) as connection:
                found = entities.list_entities(connection, grant.tenant_id)
            # Sage: "Returns up to 100 entities"; the query service pages past that.
            page = found[:DEFAULT_PAGE_SIZE]
            meta = _page_meta(1, DEFAULT_PAGE_SIZE, len(found))
            return json_response({"ia::result": page, "ia::meta": meta})

        return await serve(request, work)

    @app.post(ENTITY_PATH)
    async def create_entity(request: Request) -> Response:
        def work(grant: AccessGrant, body: Any) -> Response:
            with write_transaction(context.engine) as connection:
                created = entities.create_entity(connection, grant.tenant_id, body)
            return json_response({"ia::result": created, "ia::meta": _one_success()}, 201)

        return await serve(request, work, body=True)

    return app


def _scope(connection: Connection, grant: AccessGrant, request: Request) -> Scope:
    """Where in its company the request runs: the entity its header names, else the entity
    its token signed in at (`user@company|entity`, in a multi-entity company; a
    single-entity company ignores it, as at sign-in), else the top level."""
    entity_id = request.headers.get(ENTITY_HEADER)
    if entity_id is None:
        signed_in = auth.signed_in_entity(grant.subject)
        if signed_in is not None and entities.is_multi_entity(connection, grant.tenant_id):
            entity_id = signed_in
    return entities.resolve_scope(connection, grant.tenant_id, entity_id)


def _page_meta(start: int, size: int, total: int) -> dict[str, int | None]:
    end = start + size
    return {
        "totalCount": total,
        "start": start,
        "pageSize": size,
        "next": end if end <= total else None,
        "previous": max(1, start - size) if start > 1 else None,
    }


def _one_success() -> dict[str, int]:
    return {"totalCount": 1, "totalSuccess": 1, "totalError": 0}


def _query_int(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse_int(raw, minimum=1, maximum=high, what=name)
    except ParseError:
        message = f"{name} must be a whole number from 1 to {high}, not {raw!r}"
        raise bad_request(message, f"/{name}") from None
