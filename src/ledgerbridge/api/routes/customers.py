"""`GET /customers` and `GET /customers/{id}`: the seed's records endpoint; `POST
/customers` and `PATCH /customers/{id}`: write-back to the platform.

Order is the connection's change sequence (commit order); `cursor` is exclusive,
`modified_after` inclusive. See shared/reference/records-api.md for the semantics.
Writes are `sync/write_back.py`'s: the platform first, then the record store at once.
Responses are written with orjson; `response_model` documents their shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.responses import Response

from ledgerbridge.api.deps import WRITE, ConnectionDep, EngineDep, SyncDep
from ledgerbridge.api.errors import ApiError
from ledgerbridge.connections import ConnectionInfo
from ledgerbridge.db import read_transaction
from ledgerbridge.json import json_response
from ledgerbridge.parsing import bounded_moment, check_json, check_text
from ledgerbridge.sync import write_back
from ledgerbridge.unified.cursor import decode_cursor, encode_cursor
from ledgerbridge.unified.customer import MODEL_NAME, Address, UnifiedCustomer, iso_utc
from ledgerbridge.unified.records import (
    StoredRecord,
    get_record,
    list_records,
)

router = APIRouter(tags=["customers"])

MAX_IDS = 100
MAX_CENTS = 999_999_999_999_999
"""Amounts up to 9,999,999,999,999.99: the 13 integer digits QuickBooks keeps."""
CustomerId = Annotated[str, Path(max_length=255, pattern=r"^[^\x00]+$")]
_FILTERS = {"added": "ADDED", "updated": "UPDATED", "deleted": "DELETED"}


class RecordsQuery(BaseModel):
    """Query parameters of `GET /customers`; anything else is refused."""

    model_config = ConfigDict(extra="forbid")

    modified_after: datetime | None = Field(
        default=None, description="Only records modified at or after this time (ISO-8601)."
    )
    limit: int = Field(default=100, ge=1, le=10_000, description="Records per page.")
    cursor: str | None = Field(
        default=None, description="Records after this one (`next_cursor` or a record's cursor)."
    )
    filter: str | None = Field(
        default=None, description="`added`, `updated`, `deleted`, or a comma-joined mix."
    )
    ids: list[str] = Field(default_factory=list, description=f"Up to {MAX_IDS} provider ids.")
    include: Literal["remote_data"] | None = Field(
        default=None, description="`remote_data` adds each record's raw provider payload."
    )

    @field_validator("modified_after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return None if value is None else bounded_moment(value, what="modified_after")

    @field_validator("cursor")
    @classmethod
    def _decodable(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    @field_validator("filter")
    @classmethod
    def _known_filters(cls, value: str | None) -> str | None:
        if value is not None:
            parts = [part.strip().lower() for part in value.split(",")]
            unknown = [part for part in parts if part not in _FILTERS]
            if unknown:
                raise ValueError(
                    f"unknown filter {', '.join(unknown)!s}; use added, updated, deleted"
                )
        return value

    @field_validator("ids")
    @classmethod
    def _split_ids(cls, value: list[str]) -> list[str]:
        ids = [part.strip() for item in value for part in item.split(",") if part.strip()]
        for one in ids:
            check_text(one, max_length=255, what="an id")
        if len(ids) > MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} ids")
        return ids


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


def _actions(filter_value: str | None) -> set[str] | None:
    if filter_value is None:
        return None
    return {_FILTERS[part.strip().lower()] for part in filter_value.split(",")}


def _cursor(record: StoredRecord, connection: ConnectionInfo) -> str:
    return encode_cursor(record.change_seq, connection_id=connection.id, model=MODEL_NAME)


def _after_seq(cursor: str | None, connection: ConnectionInfo) -> int | None:
    """The change sequence a (format-checked) cursor points after, if it is this
    connection's; a cursor of another connection or model is a 400."""
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    refusal = position.refusal(connection.id, MODEL_NAME)
    if refusal is not None:
        raise ApiError(
            400,
            "invalid_query_params",
            f"The request is invalid: cursor: {refusal}",
            [{"field": "cursor", "message": refusal}],
        )
    return position.change_seq


def _public(
    record: StoredRecord, include_remote: bool, connection: ConnectionInfo
) -> dict[str, Any]:
    body = dict(record.payload)
    body["id"] = record.external_id
    body["_nango_metadata"] = {
        "first_seen_at": iso_utc(record.first_seen_at),
        "last_modified_at": iso_utc(record.last_modified_at),
        "last_action": record.last_action,
        "deleted_at": None if record.deleted_at is None else iso_utc(record.deleted_at),
        "cursor": _cursor(record, connection),
    }
    if include_remote:
        body["remote_data"] = record.remote_data
    return body


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
    after_seq = _after_seq(query.cursor, connection)
    with_remote = query.include == "remote_data"
    with read_transaction(engine) as conn:
        page, has_more = list_records(
            conn,
            connection_id=connection.id,
            model=MODEL_NAME,
            after_seq=after_seq,
            modified_after=query.modified_after,
            actions=_actions(query.filter),
            external_ids=query.ids or None,
            limit=query.limit,
            with_remote=with_remote,
        )
    body = {
        "records": [_public(record, with_remote, connection) for record in page],
        "next_cursor": _cursor(page[-1], connection) if has_more else None,
    }
    return json_response(body)


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
        record = get_record(
            conn,
            connection_id=connection.id,
            model=MODEL_NAME,
            external_id=customer_id,
            with_remote=include is not None,
        )
    if record is None:
        raise ApiError(404, "not_found", f"No customer {customer_id!r} in this connection.")
    return json_response(_public(record, include is not None, connection))


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
    return json_response(_public(stored, False, connection), status=201)


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
    return json_response(_public(stored, False, connection))
