"""The QuickBooks Online sandbox app, mounted at `/sandbox/qbo`: OAuth, the v3 Customer
endpoints (create, read, full and sparse update, query, CDC, batch, companyinfo), limits
and injected faults through the shared `Gate`, and the admin API."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.db import read_transaction, write_transaction
from ledgerbridge.json import json_response
from ledgerbridge.parsing import ParseError, load_json, parse_datetime, parse_id
from ledgerbridge.providers.qbo import wire
from ledgerbridge.providers.qbo.sandbox import merge, rules, store
from ledgerbridge.providers.qbo.sandbox import query as qbo_query
from ledgerbridge.providers.qbo.sandbox.oauth_routes import oauth_router
from ledgerbridge.providers.qbo.sandbox.realms import PROVIDER, default_settings, ensure_realm
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.providers.qbo.sandbox.webhook_routes import webhook_routes
from ledgerbridge.providers.qbo.wire import QboFault
from ledgerbridge.sandbox import tenants
from ledgerbridge.sandbox.admin import Admin, AdminScope, admin_routes, install_admin
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.envelope import install_envelope, media_type
from ledgerbridge.sandbox.limits import Refusal
from ledgerbridge.sandbox.oauth import OAuthError, TokenIssuer
from ledgerbridge.threads import in_thread

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 30
BATCH_REQUESTS_PER_MINUTE = 40
"""Intuit: "Max 40 batch requests per minute per realmId", on top of the 500 a minute that
every request counts against (IntuitDeveloper/SampleApp-Batch-Java, docs/batch-tutorial.md).
The same page says 50 items a batch where Intuit's API reference says 30; 30 is kept."""
BATCH_LIMIT_KNOB = "batch_requests_per_minute"
JSON_TYPES = ("application/json", "")
QUERY_TYPES = ("application/text", "text/plain", "")
XML_TYPES = ("application/xml", "text/xml")
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_OBJECTS = 1000

Work = Callable[[tenants.TenantSettings], dict[str, Any]]


class MergeRequest(BaseModel):
    """The admin merge's body: the customer that survives."""

    model_config = ConfigDict(extra="forbid")

    into: int = Field(ge=1, lt=2**31, description="Id of the customer that survives.")


class _Unauthorized(Exception):
    def __init__(self, detail: str, status: int = 401) -> None:
        self.detail = detail
        self.status = status


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
    app = FastAPI(
        title="QuickBooks Online sandbox", openapi_url=None, docs_url=None, redoc_url=None
    )
    install_envelope(app, lambda status, text: _framework_fault(status, text, context))

    app.add_middleware(_IntuitTid)
    app.include_router(oauth_router(context, issuer))
    on_create = functools.partial(_company, context)
    scope = AdminScope(PROVIDER, context, default_settings, on_create)
    install_admin(app, scope, *webhook_routes(), *_merge_routes())

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
            settings = tenants.get_tenant(connection, PROVIDER, realm_id)
        # A realm the token was not issued for, an unknown one included, is QuickBooks'
        # 403 AuthorizationFailed 3100 (as users report it: erpnext#29161, qbo_api#138).
        if grant.tenant_id != realm_id or settings is None:
            raise _Unauthorized(f"Token is not valid for realm {realm_id}", status=403)
        return settings

    async def serve(request: Request, realm_id: str, work: Work) -> Response:
        try:
            settings = await in_thread(authorize, request, realm_id)
        except _Unauthorized as exc:
            if exc.status == 403:
                return json_response(wire.forbidden_body(), 403)
            return json_response(
                wire.unauthorized_body(exc.detail), 401, {"WWW-Authenticate": "Bearer"}
            )
        async with context.gate.enter(PROVIDER, realm_id, settings) as refusal:
            if refusal is not None:
                return _refused(refusal, settings)
            try:
                body = await in_thread(work, settings)
            except QboFault as fault:
                return _fault_response(fault, context.clock(), settings)
            body["time"] = store.response_time(context.clock(), settings.utc_offset)
            return json_response(body)

    @app.post("/v3/company/{realm_id}/customer")
    async def write_customer(request: Request, realm_id: str) -> Response:
        raw = await request.body()
        operation = request.query_params.get("operation", "")
        content_type = media_type(request)

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            if operation.lower() == "delete":
                raise wire.unsupported("Delete")
            body = _parse_json(raw, content_type)
            with write_transaction(context.engine) as connection:
                row = _save(connection, realm_id, body, settings, context.clock())
            return {"Customer": store.render(row, settings.utc_offset)}

        return await serve(request, realm_id, work)

    @app.get("/v3/company/{realm_id}/customer/{customer_id}")
    async def read_customer(request: Request, realm_id: str, customer_id: str) -> Response:
        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            with read_transaction(context.engine) as connection:
                number = parse_id(customer_id)
                row = None if number is None else store.get_customer(connection, realm_id, number)
            if row is None:
                raise wire.not_found(customer_id)
            return {"Customer": store.render(row, settings.utc_offset)}

        return await serve(request, realm_id, work)

    @app.api_route("/v3/company/{realm_id}/query", methods=["GET", "POST"])
    async def run_query(request: Request, realm_id: str) -> Response:
        text = request.query_params.get("query")
        content_type = media_type(request)
        if text is None and request.method == "POST":
            text = (await request.body()).decode("utf-8", errors="replace")

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            if text is not None and request.query_params.get("query") is None:
                _check_media(content_type, QUERY_TYPES)
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
        content_type = media_type(request)

        def work(settings: tenants.TenantSettings) -> dict[str, Any]:
            limit = int(settings.extra.get(BATCH_LIMIT_KNOB, BATCH_REQUESTS_PER_MINUTE))
            if not context.gate.count_extra(PROVIDER + ":batch", realm_id, limit):
                raise wire.throttled()
            return _batch(context, realm_id, _parse_json(raw, content_type), settings)

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


@admin_routes
def _merge_routes(router: APIRouter) -> None:
    """The admin merge, built once a process like the tenants' routes (`install_admin`)."""

    @router.post("/tenants/{realm_id}/customers/{deleted_id}/merge")
    def merge_customer(
        realm_id: str,
        deleted_id: Annotated[int, Path(ge=1, lt=2**31)],
        body: MergeRequest,
        admin: Admin,
    ) -> Response:
        """Merge customer `deleted_id` into `body.into`, as a QuickBooks user can in the UI
        (sandbox only; see `merge.py` for what QuickBooks does)."""
        context = admin.context
        with write_transaction(context.engine) as connection:
            settings = tenants.get_tenant(connection, PROVIDER, realm_id)
            if settings is None:
                return json_response({"detail": f"no qbo sandbox tenant {realm_id!r}"}, 404)
            try:
                survivor = merge.merge_customers(
                    connection,
                    realm_id,
                    deleted_id=deleted_id,
                    survivor_id=body.into,
                    now=context.clock(),
                )
            except merge.MergeRefused as refused:
                return json_response({"detail": refused.message}, refused.status)
        rendered = store.render(survivor, settings.utc_offset)
        return json_response({"Customer": rendered, "deletedId": str(deleted_id)})


def _company(context: SandboxContext, realm_id: str) -> None:
    ensure_realm(context, realm_id)


def _check_media(content_type: str, accepted: tuple[str, ...]) -> None:
    """QuickBooks takes JSON or XML entities and `application/text` queries. XML bodies are
    not modelled here (JSON is what every current SDK sends); they get a 415 fault saying
    so, in QuickBooks' envelope, as does any other media type."""
    if content_type in accepted:
        return
    if content_type in XML_TYPES:
        detail = "XML request bodies are not served by this sandbox; send application/json"
    else:
        detail = f"Content-Type {content_type!r} is not supported here"
    raise QboFault(wire.UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type", detail, status=415)


def _parse_json(raw: bytes, content_type: str) -> Any:
    _check_media(content_type, JSON_TYPES)
    try:
        return load_json(raw, what="Request body")
    except ParseError as exc:
        raise QboFault(
            wire.INVALID_PROPERTY, "Request has invalid or unsupported property", str(exc)
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
    if parsed.properties is not None:
        rows = [qbo_query.project(row, parsed.properties) for row in rows]
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
        # A `+` in a URL's query is a space unless encoded; a client that forgot reads back.
        since = parse_datetime(
            changed_since.replace(" ", "+"),
            default_zone=store.company_zone(settings.utc_offset),
            what="changedSince",
        )
    except ParseError as exc:
        raise wire.invalid_property("changedSince", str(exc)) from None
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
            rendered: list[dict[str, Any]] = [store.render(r, settings.utc_offset) for r in rows]
            # Deleted objects come after the active ones, within the same object limit.
            deleted = merge.deleted_since(
                connection, realm_id, since, CDC_MAX_OBJECTS - len(rendered)
            )
            rendered += [merge.render_deleted(r, settings.utc_offset) for r in deleted]
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
        except Exception:
            # Items are independent (Intuit's batch docs): one that fails unexpectedly is
            # answered with a SystemFault of its own, never a 500 for the whole batch.
            log.exception("qbo sandbox batch item failed")
            answers.append({"bId": bid, "Fault": wire.system_fault().fault()})
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


def _framework_fault(status: int, message: str, context: SandboxContext) -> Response:
    """404, 405, 413, 500 and malformed requests in QuickBooks' `Fault` envelope."""
    if status >= 500:
        fault = wire.system_fault()
    elif status == 404:
        fault = QboFault(wire.UNSUPPORTED_OPERATION, "Unsupported Operation", message, status=404)
    elif status == 405:
        fault = QboFault(wire.UNSUPPORTED_OPERATION, "Unsupported Operation", message, status=405)
    else:
        fault = QboFault(wire.INVALID_PROPERTY, "Request is not valid", message, status=status)
    body = {"Fault": fault.fault(), "time": store.response_time(context.clock(), "+00:00")}
    return json_response(body, fault.status)


def _fault_response(fault: QboFault, now: datetime, settings: tenants.TenantSettings) -> Response:
    body = {"Fault": fault.fault(), "time": store.response_time(now, settings.utc_offset)}
    headers = {"Retry-After": "60"} if fault.status == 429 else None
    return json_response(body, fault.status, headers)


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
