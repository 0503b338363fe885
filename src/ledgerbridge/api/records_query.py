"""The records query of `GET /customers`, shared by the API route and the dashboard's
records browser: the same filters, the same parsing, the same cursors, the same record
shape (unified fields, `_nango_metadata`, `remote_data`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Connection

from ledgerbridge.api.errors import ApiError
from ledgerbridge.connections import ConnectionInfo
from ledgerbridge.parsing import bounded_moment, check_text
from ledgerbridge.unified.cursor import decode_cursor, encode_cursor
from ledgerbridge.unified.customer import MODEL_NAME, iso_utc
from ledgerbridge.unified.records import StoredRecord, get_record, list_records

MAX_IDS = 100
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
    name: str | None = Field(
        default=None,
        max_length=200,
        description="Only customers whose display name contains this text (any case).",
    )
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

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_text(value, max_length=200, what="name")
        return value or None

    @field_validator("ids")
    @classmethod
    def _split_ids(cls, value: list[str]) -> list[str]:
        ids = [part.strip() for item in value for part in item.split(",") if part.strip()]
        for one in ids:
            check_text(one, max_length=255, what="an id")
        if len(ids) > MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} ids")
        return ids


def _actions(filter_value: str | None) -> set[str] | None:
    if filter_value is None:
        return None
    return {_FILTERS[part.strip().lower()] for part in filter_value.split(",")}


def record_cursor(record: StoredRecord, connection: ConnectionInfo) -> str:
    return encode_cursor(record.change_seq, connection_id=connection.id, model=MODEL_NAME)


def after_seq(cursor: str | None, connection: ConnectionInfo) -> int | None:
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


def public_record(
    record: StoredRecord, include_remote: bool, connection: ConnectionInfo
) -> dict[str, Any]:
    body = dict(record.payload)
    body["id"] = record.external_id
    body["_nango_metadata"] = {
        "first_seen_at": iso_utc(record.first_seen_at),
        "last_modified_at": iso_utc(record.last_modified_at),
        "last_action": record.last_action,
        "deleted_at": None if record.deleted_at is None else iso_utc(record.deleted_at),
        "cursor": record_cursor(record, connection),
    }
    if include_remote:
        body["remote_data"] = record.remote_data
    return body


def customer_page(
    conn: Connection, connection: ConnectionInfo, query: RecordsQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the connection's customers in change order, and the next page's cursor
    (None on the last page)."""
    with_remote = query.include == "remote_data"
    page, has_more = list_records(
        conn,
        connection_id=connection.id,
        model=MODEL_NAME,
        after_seq=after_seq(query.cursor, connection),
        modified_after=query.modified_after,
        actions=_actions(query.filter),
        external_ids=query.ids or None,
        name_contains=query.name,
        limit=query.limit,
        with_remote=with_remote,
    )
    next_cursor = record_cursor(page[-1], connection) if has_more else None
    return [public_record(record, with_remote, connection) for record in page], next_cursor


def one_customer(
    conn: Connection, connection: ConnectionInfo, customer_id: str, *, with_remote: bool
) -> dict[str, Any]:
    """One customer as the API serves it; a 404 `ApiError` when the connection has none."""
    record = get_record(
        conn,
        connection_id=connection.id,
        model=MODEL_NAME,
        external_id=customer_id,
        with_remote=with_remote,
    )
    if record is None:
        raise ApiError(404, "not_found", f"No customer {customer_id!r} in this connection.")
    return public_record(record, with_remote, connection)
