"""`GET /customers` and `GET /customers/{id}`: the seed's records endpoint; `POST
/customers` and `PATCH /customers/{id}`: write-back to the platform.

Order is the connection's change sequence (commit order); `cursor` is exclusive,
`modified_after` inclusive. See shared/reference/records-api.md for the semantics.
Writes are `sync/write_back.py`'s: the platform first, then the record store at once.
Responses are written with orjson; `response_model` documents their shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from ledgerbridge.api.deps import WRITE, ConnectionDep, EngineDep, SyncDep
from ledgerbridge.api.errors import ApiError
from ledgerbridge.api.records_query import (
    RecordsQuery,
    customer_page,
    one_customer,
    public_record,
)
from ledgerbridge.db import read_transaction
from ledgerbridge.json import json_response
from ledgerbridge.parsing import check_json
from ledgerbridge.sync import write_back
from ledgerbridge.unified.customer import Address, UnifiedCustomer

router = APIRouter(tags=["customers"])

MAX_CENTS = 999_999_999_999_999
"""Amounts up to 9,999,999,999,999.99: the 13 integer digits QuickBooks keeps."""
CustomerId = Annotated[str, Path(max_length=255, pattern=r"^[^\x00]+$")]


class NangoMetadata(BaseModel):
    """How the record changed in ledgerbridge (the records API's `_nango_metadata`)."""

    first_seen_at: str
    last_modified_at: str
    last_action: Literal["ADDED", "UPDATED", "DELETED"]
    deleted_at: str | None
    cursor: str = Field(description="This record's place in the change order.")


class CustomerRecord(UnifiedCustomer):
    """A customer as the API serves it: the unified fields and the record's metadata."""

    nango_metadata: NangoMetadata = Field(alias="_nango_metadata")
    remote_data: dict[str, Any] | None = Field(
        default=None, description="The platform's own object (with `include=remote_data`)."
    )


class CustomerList(BaseModel):
    records: list[CustomerRecord]
    next_cursor: str | None = Field(description="Null on the last page.")


@router.get(
    "/customers",
    response_model=CustomerList,
    summary="List customers of a connection, in change order",
)
def list_customers(
    engine: EngineDep,
    connection: ConnectionDep,
    query: Annotated[RecordsQuery, Query()],
) -> Response:
    with read_transaction(engine) as conn:
        found, next_cursor = customer_page(conn, connection, query)
    return json_response({"records": found, "next_cursor": next_cursor})


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerRecord,
    summary="One customer of a connection",
)
def get_customer(
    engine: EngineDep,
    connection: ConnectionDep,
    customer_id: CustomerId,
    include: Annotated[Literal["remote_data"] | None, Query()] = None,
) -> Response:
    with read_transaction(engine) as conn:
        body = one_customer(conn, connection, customer_id, with_remote=include is not None)
    return json_response(body)


class CustomerChanges(BaseModel):
    """Unified fields to write; only those sent are written. Read-only fields (`id`, times,
    `fully_qualified_name`) are refused like any unknown field."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=500)
    given_name: str | None = Field(default=None, max_length=100)
    middle_name: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=100)
    company_name: str | None = Field(default=None, max_length=500)
    active: bool | None = None
    taxable: bool | None = None
    primary_email: str | None = Field(
        default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=100
    )
    primary_phone: str | None = Field(default=None, max_length=30)
    mobile_phone: str | None = Field(default=None, max_length=30)
    bill_address: Address | None = None
    ship_address: Address | None = None
    parent_id: str | None = Field(default=None, max_length=255)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    notes: str | None = Field(default=None, max_length=4000)
    credit_limit_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        """No NUL in any text, no nesting past the limit (the platforms refuse both)."""
        return check_json(data, max_depth=8)

    def sent(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class CustomerCreate(CustomerChanges):
    balance_cents: int | None = Field(
        default=None,
        ge=-MAX_CENTS,
        le=MAX_CENTS,
        description="Opening balance in cents (only on create).",
    )


@router.post(
    "/customers",
    status_code=201,
    response_model=CustomerRecord,
    summary="Create a customer in the platform",
    dependencies=[WRITE],
)
async def create_customer(
    sync: SyncDep, connection: ConnectionDep, body: CustomerCreate
) -> Response:
    fields = body.sent()
    if not fields:
        raise ApiError(400, "invalid_body", "Send at least one field of the customer.")
    stored = await write_back.create_customer(sync.env, connection, fields)
    return json_response(public_record(stored, False, connection), status=201)


@router.patch(
    "/customers/{customer_id}",
    response_model=CustomerRecord,
    summary="Change some fields of a customer",
    dependencies=[WRITE],
)
async def update_customer(
    sync: SyncDep, connection: ConnectionDep, customer_id: CustomerId, body: CustomerChanges
) -> Response:
    changes = body.sent()
    if not changes:
        raise ApiError(400, "invalid_body", "Send at least one field to change.")
    stored = await write_back.update_customer(sync.env, connection, customer_id, changes)
    return json_response(public_record(stored, False, connection))
