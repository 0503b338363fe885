"""The list parameters of `GET /quickbooks-desktop/customers`, read as Conductor reads them,
and the customers they select, in QuickBooks' order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.datastructures import QueryParams

from ledgerbridge.parsing import (
    ParseError,
    check_text,
    parse_datetime,
    parse_decimal,
    parse_int,
)
from ledgerbridge.providers.qbd import wire
from ledgerbridge.providers.qbd.sandbox.tables import customers

ARRAY_PARAMS = ("ids", "fullNames", "currencyIds", "classIds")
NAME_MATCHES = ("nameContains", "nameStartsWith", "nameEndsWith")
BALANCE_FILTERS = {
    "totalBalance": "__eq__",
    "totalBalanceGreaterThan": "__gt__",
    "totalBalanceGreaterThanOrEqualTo": "__ge__",
    "totalBalanceLessThan": "__lt__",
    "totalBalanceLessThanOrEqualTo": "__le__",
}
SCALAR_PARAMS = (
    "limit", "cursor", "status", "updatedAfter", "updatedBefore", *NAME_MATCHES, "nameFrom",
    "nameTo", *BALANCE_FILTERS, "excludeAlternateShippingAddresses",
)  # fmt: skip
MAX_AMOUNT = Decimal("9999999999999.99")
"""The largest amount QuickBooks Desktop keeps (13 integer digits, 2 decimals)."""
MAX_TEXT = 1_000
MAX_ARRAY = 1_000
"""Values of an array filter (`ids`): Conductor publishes no figure; past SQLite's and any
URL's comfort, and far past a page of 150."""


@dataclass(frozen=True)
class CustomerQuery:
    """One list request's parameters, checked."""

    ids: list[str] = field(default_factory=list)
    full_names: list[str] = field(default_factory=list)
    limit: int = wire.PAGE_LIMIT_MAX
    cursor: str | None = None
    status: str = "active"
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    name_match: tuple[str, str] | None = None
    name_from: str | None = None
    name_to: str | None = None
    total_balance: tuple[str, Decimal] | None = None
    currency_ids: list[str] = field(default_factory=list)
    class_ids: list[str] = field(default_factory=list)
    exclude_alternate_shipping: bool = False


def _text(name: str, value: str) -> str:
    try:
        return check_text(value, max_length=MAX_TEXT, what=f"query parameter `{name}`")
    except ParseError as exc:
        raise wire.invalid_request(f"Invalid {exc}.") from None


def array_param(params: QueryParams, name: str) -> list[str]:
    # Current SDKs repeat the parameter (`ids=a&ids=b`); older ones comma-join it.
    values = [part.strip() for raw in params.getlist(name) for part in raw.split(",")]
    found = [_text(name, value) for value in values if value]
    if len(found) > MAX_ARRAY:
        raise wire.invalid_request(
            f"Invalid query parameter `{name}`: at most {MAX_ARRAY} values, got {len(found)}."
        )
    return found


def single_param(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise wire.invalid_request(f"Invalid query parameter `{name}`: given more than once.")
    return _text(name, values[0]) if values else None


def local_moment(text: str, zone: timezone, *, end_of_day: bool, name: str) -> datetime:
    """A date means the start (or end) of that day on the company's clock; a datetime
    without an offset is on that clock too; one with an offset is read in it."""
    try:
        return parse_datetime(text, default_zone=zone, end_of_day=end_of_day, what=name)
    except ParseError as exc:
        raise wire.invalid_request(f"Invalid query parameter `{name}`: {exc}.") from None


def parse(params: QueryParams, zone: timezone) -> CustomerQuery:
    """Check every parameter; anything unknown or malformed is Conductor's 400."""
    for name in params:
        if name not in ARRAY_PARAMS and name not in SCALAR_PARAMS:
            raise wire.invalid_request(f"Unrecognized query parameter `{name}`.")
    values: dict[str, Any] = {
        "ids": array_param(params, "ids"),
        "full_names": array_param(params, "fullNames"),
        "currency_ids": array_param(params, "currencyIds"),
        "class_ids": array_param(params, "classIds"),
        "cursor": single_param(params, "cursor"),
    }
    limit = single_param(params, "limit")
    if limit is not None:
        try:
            values["limit"] = parse_int(limit, minimum=1, maximum=wire.PAGE_LIMIT_MAX)
        except ParseError:
            raise wire.invalid_request(
                f"Invalid query parameter `limit`: must be an integer from 1 to "
                f"{wire.PAGE_LIMIT_MAX}, got {limit!r}."
            ) from None
    status = single_param(params, "status")
    if status is not None:
        if status not in ("active", "inactive", "all"):
            raise wire.invalid_request(
                'Invalid query parameter `status`: must be one of "active", "all", "inactive".'
            )
        values["status"] = status
    for name, key, end_of_day in (
        ("updatedAfter", "updated_after", False),
        ("updatedBefore", "updated_before", True),
    ):
        text = single_param(params, name)
        if text is not None:
            values[key] = local_moment(text, zone, end_of_day=end_of_day, name=name)
    matches = [(name, single_param(params, name)) for name in NAME_MATCHES if name in params]
    if len(matches) > 1:
        raise wire.invalid_request(
            "Only one of `nameContains`, `nameStartsWith` and `nameEndsWith` may be used."
        )
    if matches and matches[0][1]:
        values["name_match"] = (matches[0][0], str(matches[0][1]))
    values["name_from"] = single_param(params, "nameFrom")
    values["name_to"] = single_param(params, "nameTo")
    balances = [name for name in BALANCE_FILTERS if name in params]
    if len(balances) > 1:
        raise wire.invalid_request("Only one total-balance filter may be used at a time.")
    if balances:
        text = str(single_param(params, balances[0]))
        try:
            # A decimal string, as the schema says: NaN, Infinity and 1e999999 are not.
            amount = parse_decimal(text, max_abs=MAX_AMOUNT, what=f"`{balances[0]}`")
        except ParseError as exc:
            raise wire.invalid_request(f"Invalid query parameter {exc}.") from None
        values["total_balance"] = (balances[0], amount)
    exclude = single_param(params, "excludeAlternateShippingAddresses")
    if exclude is not None:
        if exclude not in ("true", "false"):
            raise wire.invalid_request(
                "Invalid query parameter `excludeAlternateShippingAddresses`: must be a boolean."
            )
        values["exclude_alternate_shipping"] = exclude == "true"
    return CustomerQuery(**values)


def _like(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(query: CustomerQuery) -> list[sa.ColumnElement[bool]]:
    c = customers.c
    where: list[sa.ColumnElement[bool]] = []
    if query.status != "all":
        where.append(c.is_active.is_(query.status == "active"))
    if query.updated_after is not None:
        where.append(c.updated_at >= query.updated_after)
    if query.updated_before is not None:
        # Times are kept to the second, as QuickBooks keeps them.
        where.append(c.updated_at < query.updated_before + timedelta(seconds=1))
    lowered = sa.func.lower(c.name)
    if query.name_match is not None:
        kind, text = query.name_match
        pattern = {
            "nameContains": f"%{_like(text)}%",
            "nameStartsWith": f"{_like(text)}%",
            "nameEndsWith": f"%{_like(text)}",
        }[kind]
        where.append(lowered.like(pattern, escape="\\"))
    if query.name_from is not None:
        where.append(lowered >= query.name_from.lower())
    if query.name_to is not None:
        where.append(lowered <= query.name_to.lower())
    if query.total_balance is not None:
        name, amount = query.total_balance
        where.append(getattr(c.total_balance, BALANCE_FILTERS[name])(amount))
    if query.currency_ids:
        where.append(c.currency_id.in_(query.currency_ids))
    if query.class_ids:
        where.append(c.class_id.in_(query.class_ids))
    return where


def select_ids(connection: Connection, end_user_id: str, query: CustomerQuery) -> list[str]:
    """The ids the query selects, in QuickBooks' list order (by full name, so each job
    follows its parent). With `ids` or `fullNames`, only those, and every one must exist."""
    c = customers.c
    base = sa.select(c.id, c.sort_key).where(c.end_user_id == end_user_id)
    if query.ids or query.full_names:
        wanted = base.where(
            sa.or_(c.id.in_(query.ids), c.sort_key.in_([n.lower() for n in query.full_names]))
        )
        rows = list(connection.execute(wanted.order_by(c.sort_key, c.id)))
        found_ids = {row.id for row in rows}
        found_names = {row.sort_key for row in rows}
        for customer_id in query.ids:
            if customer_id not in found_ids:
                raise wire.resource_missing(f'No customer with id "{customer_id}" was found.')
        for full_name in query.full_names:
            if full_name.lower() not in found_names:
                raise wire.resource_missing(f'No customer with fullName "{full_name}" was found.')
        return [row.id for row in rows]
    selected = base.where(*_filters(query)).order_by(c.sort_key, c.id)
    return [row.id for row in connection.execute(selected)]
