"""The QuickBooks Online sandbox app, mounted at `/sandbox/qbo`: OAuth, the v3 Customer
endpoints (create, read, full and sparse update, query, CDC, batch, companyinfo), limits
and injected faults through the shared `Gate`, and the admin API."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.json import json_response
from ledgerbridge.providers.qbo import wire
from ledgerbridge.providers.qbo.sandbox import query as qbo_query
from ledgerbridge.providers.qbo.sandbox import rules, store
from ledgerbridge.providers.qbo.sandbox.oauth_routes import (
    PROVIDER,
    default_settings,
    ensure_realm,
    oauth_router,
)
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.providers.qbo.wire import QboFault
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.admin import admin_router
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.limits import Refusal
from ledgerbridge.sandbox.oauth import OAuthError, TokenIssuer

MAX_BATCH_ITEMS = 30
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_OBJECTS = 1000

Work = Callable[[tenants.TenantSettings], dict[str, Any]]


class _Unauthorized(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


class _IntuitTid:
    """Intuit answers every API request with an `intuit_tid` header, the id its support asks
    for (SDKs read it: python-quickbooks, apigrate/quickbooks 4.3). Plain ASGI, so a
    1,000-customer page is not copied through a streaming middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tid = f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}".encode()

        async def send_with_tid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"intuit_tid", tid)]
            await send(message)

        await self.app(scope, receive, send_with_tid)


def create_app(context: SandboxContext, issuer: TokenIssuer) -> FastAPI:
    """The sandbox's ASGI app."""
    app = FastAPI(title="QuickBooks Online sandbox", docs_url=None, redoc_url=None)

    app.add_middleware(_IntuitTid)
    app.include_router(oauth_router(context, issuer))
    app.include_router(
        admin_router(PROVIDER, context, default_settings, lambda realm: _company(context, realm))
    )

    def authorize(request: Request, realm_id: str) -> tenants.TenantSettings:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _Unauthorized("Authorization header missing or not a Bearer token")
        with read_transaction(context.engine) as connection:
            try:
                grant = issuer.verify_access(connection, token.strip(), context.clock())
            except OAuthError as exc:
                raise _Unauthorized(f"Token invalid or expired: {exc.description}") from None
            if grant.tenant_id != realm_id:
                raise _Unauthorized(f"Token is not valid for realm {realm_id}")
            settings = tenants.get_tenant(connection, PROVIDER, realm_id)
        if settings is None:
            raise _Unauthorized(f"No company for realm {realm_id}")
        return settings

    async def serve(request: Request, realm_id: str, work: Work) -> Response:
        try:
            settings = await run_in_threadpool(authorize, request, realm_id)
        except _Unauthorized as exc:
            return json_response(
                wire.unauthorized_body(exc.detail), 401, {"WWW-Authenticate": "Bearer"}
            )
        async with context.gate.enter(PROVIDER, realm_id, settings) as refusal:
            if refusal is not None:
                return _refused(refusal, settings)
            try:
                body = await run_in_threadpool(work, settings)
            except QboFault as fault:
                return _fault_response(fault, context.clock(), settings)
            body["time"] = store.response_time(context.clock(), settings.utc_offset)
            return json_response(body)

    @app.post("/v3/company/{realm_id}/customer")
    async def write_customer(request: Request, realm_id: str) -> Response:
        raw = await request.body()
        operation = request.query_params.get("operation", "")

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            if operation.lower() == "delete":
                raise wire.unsupported("Delete")
            body = _parse_json(raw)
            with write_transaction(context.engine) as connection:
                row = _save(connection, realm_id, body, settings, context.clock())
            return {"Customer": store.render(row, settings.utc_offset)}

        return await serve(request, realm_id, work)

    @app.get("/v3/company/{realm_id}/customer/{customer_id}")
    async def read_customer(request: Request, realm_id: str, customer_id: str) -> Response:
        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            with read_transaction(context.engine) as connection:
                row = (
                    store.get_customer(connection, realm_id, int(customer_id))
                    if customer_id.isdigit() and len(customer_id) < 10
                    else None
                )
            if row is None:
                raise wire.not_found(customer_id)
            return {"Customer": store.render(row, settings.utc_offset)}

        return await serve(request, realm_id, work)

    @app.api_route("/v3/company/{realm_id}/query", methods=["GET", "POST"])
    async def run_query(request: Request, realm_id: str) -> Response:
        text = request.query_params.get("query")
        if text is None and request.method == "POST":
            text = (await request.body()).decode("utf-8", errors="replace")

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            parsed = qbo_query.parse_query(text or "", settings.utc_offset)
            with read_transaction(context.engine) as connection:
                return {"QueryResponse": _query_response(connection, realm_id, parsed, settings)}

        return await serve(request, realm_id, work)

    @app.get("/v3/company/{realm_id}/cdc")
    async def change_data_capture(request: Request, realm_id: str) -> Response:
        entities = request.query_params.get("entities", "")
        changed_since = request.query_params.get("changedSince", "")

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            return _cdc(context, realm_id, entities, changed_since, settings)

        return await serve(request, realm_id, work)

    @app.post("/v3/company/{realm_id}/batch")
    async def batch(request: Request, realm_id: str) -> Response:
        raw = await request.body()

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            return _batch(context, realm_id, _parse_json(raw), settings)

        return await serve(request, realm_id, work)

    @app.get("/v3/company/{realm_id}/companyinfo/{company_id}")
    async def company_info(request: Request, realm_id: str, company_id: str) -> Response:
        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            with read_transaction(context.engine) as connection:
                company = store.get_company(connection, realm_id)
            if company is None or company_id != realm_id:
                raise wire.not_found(company_id)
            return {"CompanyInfo": _company_info(company, settings)}

        return await serve(request, realm_id, work)

    return app


def _company(context: SandboxContext, realm_id: str) -> None:
    ensure_realm(context, realm_id)


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise QboFault(
            wire.INVALID_PROPERTY,
            "Request has invalid or unsupported property",
            f"Request body is not valid JSON: {exc}",
        ) from None


def _save(
    connection: sa.Connection,
    realm_id: str,
    body: Any,
    settings: tenants.TenantSettings,
    now: datetime,
) -> sa.RowMapping:
    if isinstance(body, dict) and body.get("Id") not in (None, ""):
        return rules.update_customer(connection, realm_id, body, settings, now)
    return rules.create_customer(connection, realm_id, body, settings, now)


def _query_response(
    connection: sa.Connection,
    realm_id: str,
    parsed: qbo_query.Query,
    settings: tenants.TenantSettings,
) -> dict[str, Any]:
    if parsed.count:
        total = connection.execute(qbo_query.count_statement(parsed, realm_id)).scalar_one()
        return {"totalCount": int(total)}
    statement = qbo_query.rows_statement(parsed, realm_id, connection.dialect.name)
    rows = [store.render(r, settings.utc_offset) for r in connection.execute(statement).mappings()]
    if not rows:
        return {}
    return {"Customer": rows, "startPosition": parsed.start_position, "maxResults": len(rows)}


def _cdc(
    context: SandboxContext,
    realm_id: str,
    entities: str,
    changed_since: str,
    settings: tenants.TenantSettings,
) -> dict[str, Any]:
    if not entities:
        raise wire.required_missing("entities")
    if not changed_since:
        raise wire.required_missing("changedSince")
    try:
        since = datetime.fromisoformat(changed_since.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise wire.invalid_property("changedSince", "expected an ISO-8601 date-time") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=store.company_zone(settings.utc_offset))
    now = context.clock()
    if since < now - CDC_LOOKBACK:
        raise wire.business(
            "changedSince must be within the last 30 days; use a query for older changes.",
            element="changedSince",
        )
    wanted = {name.strip().lower() for name in entities.split(",")}
    results: list[dict[str, Any]] = []
    if "customer" in wanted:
        with read_transaction(context.engine) as connection:
            rows = connection.execute(
                sa.select(customers)
                .where(customers.c.realm_id == realm_id, customers.c.last_updated_time > since)
                .order_by(customers.c.last_updated_time, customers.c.id)
                .limit(CDC_MAX_OBJECTS)
            ).mappings()
            rendered = [store.render(r, settings.utc_offset) for r in rows]
        if rendered:
            results.append({"Customer": rendered, "startPosition": 1, "maxResults": len(rendered)})
    return {"CDCResponse": [{"QueryResponse": results or [{}]}]}


def _batch(
    context: SandboxContext, realm_id: str, body: Any, settings: tenants.TenantSettings
) -> dict[str, Any]:
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise wire.required_missing("BatchItemRequest")
    if len(items) > MAX_BATCH_ITEMS:
        raise QboFault(
            "1040",
            "Batch size exceeds allowed limit",
            f"The batch request has {len(items)} items; the limit is {MAX_BATCH_ITEMS}.",
        )
    answers = []
    for item in items:
        bid = str(item.get("bId", "")) if isinstance(item, dict) else ""
        try:
            answers.append({"bId": bid, **_batch_item(context, realm_id, item, settings)})
        except QboFault as fault:
            answers.append({"bId": bid, "Fault": fault.fault()})
    return {"BatchItemResponse": answers}


def _batch_item(
    context: SandboxContext, realm_id: str, item: Any, settings: tenants.TenantSettings
) -> dict[str, Any]:
    """One batch item, in its own transaction: its fault does not undo the others."""
    if not isinstance(item, dict) or not item.get("bId"):
        raise wire.required_missing("bId")
    if "Query" in item:
        parsed = qbo_query.parse_query(str(item["Query"]), settings.utc_offset)
        with read_transaction(context.engine) as connection:
            return {"QueryResponse": _query_response(connection, realm_id, parsed, settings)}
    operation = str(item.get("operation", "")).lower()
    if "Customer" not in item:
        raise wire.invalid_property("BatchItemRequest", "only Customer and Query items are served")
    if operation == "delete":
        raise wire.unsupported("Delete")
    if operation not in ("create", "update"):
        raise wire.invalid_property("operation", "expected create, update or delete")
    body = item["Customer"]
    with write_transaction(context.engine) as connection:
        now = context.clock()
        if operation == "create":
            row = rules.create_customer(connection, realm_id, body, settings, now)
        else:
            row = rules.update_customer(connection, realm_id, body, settings, now)
    return {"Customer": store.render(row, settings.utc_offset)}


def _company_info(company: sa.RowMapping, settings: tenants.TenantSettings) -> dict[str, Any]:
    created = store.format_time(company["created_at"], settings.utc_offset)
    return {
        "CompanyName": company["company_name"],
        "LegalName": company["company_name"],
        "CompanyAddr": {
            "Id": "1",
            "Line1": "2700 Coast Ave",
            "City": "Mountain View",
            "Country": "US",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94043",
        },
        "Country": "US",
        "SupportedLanguages": "en",
        "FiscalYearStartMonth": "January",
        "NameValue": [{"Name": "HomeCurrency", "Value": company["home_currency"]}],
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "0",
        "MetaData": {"CreateTime": created, "LastUpdatedTime": created},
    }


def _fault_response(fault: QboFault, now: datetime, settings: tenants.TenantSettings) -> Response:
    body = {"Fault": fault.fault(), "time": store.response_time(now, settings.utc_offset)}
    return json_response(body, fault.status)


def _refused(refusal: Refusal, settings: tenants.TenantSettings) -> Response:
    if refusal.reason == "throttled":
        headers = {"Retry-After": str(refusal.retry_after)}
        if settings.throttle_as_xml:
            return Response(wire.THROTTLE_XML, 429, headers, media_type="application/xml")
        return json_response(wire.throttle_body(), 429, headers)
    fault = QboFault(
        "10000",
        "An application error has occurred while processing your request",
        f"System Failure Error: injected fault (HTTP {refusal.status})",
        status=refusal.status,
        fault_type="SystemFault",
    )
    return json_response({"Fault": fault.fault()}, refusal.status)
