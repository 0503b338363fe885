"""The records browser: one connection's customers with the filters of `GET /customers`
(the same `RecordsQuery`, cursors and record shape), and one customer's page."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ledgerbridge.api.records_query import RecordsQuery, customer_page, one_customer
from ledgerbridge.connections import get_connection
from ledgerbridge.db import read_transaction
from ledgerbridge.ui.render import PageRoute, main_engine, page
from ledgerbridge.ui.session import SessionDep, require_session

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(require_session)]
)

PAGE_SIZE = 50
ACTIONS = ("added", "updated", "deleted")


def _query(request: Request) -> tuple[RecordsQuery, dict[str, Any]]:
    """The browser's form as the API's query: empty fields left out, the action boxes
    joined as `filter`. Returns the query and the form's values to show again."""
    params = request.query_params
    actions = [a for a in params.getlist("filter") if a]
    form: dict[str, Any] = {
        "modified_after": params.get("modified_after", "").strip(),
        "ids": params.get("ids", "").strip(),
        "name": params.get("name", "").strip(),
        "filter": actions,
        "limit": params.get("limit", "").strip() or str(PAGE_SIZE),
    }
    raw: dict[str, Any] = {"limit": form["limit"]}
    if form["modified_after"]:
        raw["modified_after"] = form["modified_after"]
    if form["ids"]:
        raw["ids"] = [form["ids"]]
    if form["name"]:
        raw["name"] = form["name"]
    if actions:
        raw["filter"] = ",".join(actions)
    if params.get("cursor"):
        raw["cursor"] = params["cursor"]
    return RecordsQuery.model_validate(raw), form


@router.get("/ui/connections/{connection_id}/customers")
def customers_page(request: Request, session: SessionDep, connection_id: str) -> Response:
    with read_transaction(main_engine(request)) as conn:
        info = get_connection(conn, connection_id, environment=session.caller.environment)
        query, form = _query(request)
        found, next_cursor = customer_page(conn, info, query)
    next_params = None
    if next_cursor is not None:
        next_params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        next_params.append(("cursor", next_cursor))
    return page(
        request,
        "customers.html",
        info=info,
        records=found,
        form=form,
        actions=ACTIONS,
        next_params=next_params,
    )


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


@router.get("/ui/connections/{connection_id}/customers/{customer_id}")
def customer_page_view(
    request: Request, session: SessionDep, connection_id: str, customer_id: str
) -> Response:
    with read_transaction(main_engine(request)) as conn:
        info = get_connection(conn, connection_id, environment=session.caller.environment)
        record = one_customer(conn, info, customer_id, with_remote=True)
    metadata = record.pop("_nango_metadata")
    remote = record.pop("remote_data", None)
    return page(
        request,
        "customer.html",
        info=info,
        customer_id=customer_id,
        name=record.get("display_name") or customer_id,
        unified=_pretty(record),
        metadata=_pretty(metadata),
        remote=_pretty(remote),
    )
