"""Reading and writing the sandbox's QuickBooks companies and customers, and rendering a
stored customer exactly as QuickBooks returns it."""

from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ledgerbridge.providers.qbo.sandbox.tables import companies, customers
from ledgerbridge.providers.qbo.wire import CURRENCY_NAMES

DEFAULT_CURRENCY = "USD"


@functools.lru_cache(maxsize=64)
def company_zone(utc_offset: str) -> timezone:
    """The company's fixed offset (`-07:00`) as a tzinfo (remembered: two a customer
    rendered, and a tenant has one offset; parsing it each time was 15% of a page)."""
    sign = -1 if utc_offset.startswith("-") else 1
    hours, minutes = utc_offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def to_second(moment: datetime) -> datetime:
    """Times are kept to the second, the precision QuickBooks shows in `MetaData`: a query
    bound copied from a printed `LastUpdatedTime` then compares as the platform's does
    (`>` excludes that customer, `=` finds it)."""
    return moment.replace(microsecond=0)


def format_time(moment: datetime, utc_offset: str) -> str:
    """`2026-03-31T16:49:28-07:00`: seconds, the company's offset (QuickBooks' MetaData)."""
    return moment.astimezone(company_zone(utc_offset)).isoformat(timespec="seconds")


def response_time(moment: datetime, utc_offset: str) -> str:
    """The envelope's `time`, with milliseconds as QuickBooks prints it."""
    return moment.astimezone(company_zone(utc_offset)).isoformat(timespec="milliseconds")


def cents(amount: Decimal | str | int | float | None) -> int | None:
    """An amount as QuickBooks keeps it: whole cents (two decimals, half to even), None
    when none was given. `ValueError` when it is not an amount. (The sandbox is a separate
    system: it keeps its own money rule rather than borrowing the unified model's.)"""
    if amount is None or amount == "":
        return None
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def money(cents: int) -> int | float:
    """A JSON number for an amount in cents: an integer when whole (`-15`), else the
    shortest float that prints the exact two-decimal value (`629.1`)."""
    if cents % 100 == 0:
        return cents // 100
    return float(Decimal(cents) / 100)


def new_v4id() -> str:
    return "002098" + secrets.token_hex(16)


def ensure_company(connection: Connection, realm_id: str, now: datetime) -> None:
    """Create the realm's company record if it is new."""
    exists = connection.execute(
        sa.select(companies.c.realm_id).where(companies.c.realm_id == realm_id)
    ).first()
    if exists is None:
        connection.execute(
            sa.insert(companies).values(
                realm_id=realm_id,
                company_name=f"Sandbox Company {realm_id}",
                home_currency=DEFAULT_CURRENCY,
                next_id=1,
                created_at=now,
            )
        )


def get_company(connection: Connection, realm_id: str) -> RowMapping | None:
    return (
        connection.execute(sa.select(companies).where(companies.c.realm_id == realm_id))
        .mappings()
        .first()
    )


def allocate_ids(connection: Connection, realm_id: str, count: int) -> int:
    """Reserve `count` consecutive customer ids and return the first."""
    first = connection.execute(
        sa.select(companies.c.next_id).where(companies.c.realm_id == realm_id)
    ).scalar_one()
    connection.execute(
        sa.update(companies)
        .where(companies.c.realm_id == realm_id)
        .values(next_id=companies.c.next_id + count)
    )
    return int(first)


def get_customer(connection: Connection, realm_id: str, customer_id: int) -> RowMapping | None:
    return (
        connection.execute(
            sa.select(customers).where(
                customers.c.realm_id == realm_id, customers.c.id == customer_id
            )
        )
        .mappings()
        .first()
    )


def name_taken(
    connection: Connection, realm_id: str, display_name: str, except_id: int | None
) -> bool:
    """Whether another customer (active or not) already uses the name, ignoring case."""
    query = sa.select(customers.c.id).where(
        customers.c.realm_id == realm_id,
        customers.c.display_name_lower == display_name.lower(),
    )
    if except_id is not None:
        query = query.where(customers.c.id != except_id)
    return connection.execute(query).first() is not None


def children(connection: Connection, realm_id: str, parent_id: int) -> list[RowMapping]:
    return list(
        connection.execute(
            sa.select(customers).where(
                customers.c.realm_id == realm_id, customers.c.parent_id == parent_id
            )
        ).mappings()
    )


def render(row: RowMapping | dict[str, Any], utc_offset: str) -> dict[str, Any]:
    """The customer as QuickBooks returns it: only properties that have values, server
    fields computed, `SyncToken` a string, times in the company's offset."""
    body: dict[str, Any] = dict(row["body"])
    currency = body.pop("CurrencyRef", None) or {"value": DEFAULT_CURRENCY}
    code = currency.get("value", DEFAULT_CURRENCY)
    out: dict[str, Any] = {
        "Taxable": body.pop("Taxable", False),
        "Job": bool(row["job"]),
        "BillWithParent": body.pop("BillWithParent", False),
        "Balance": money(row["balance_cents"]),
        "BalanceWithJobs": money(row["balance_with_jobs_cents"]),
        "CurrencyRef": {
            "value": code,
            "name": currency.get("name") or CURRENCY_NAMES.get(code, code),
        },
        "PreferredDeliveryMethod": body.pop("PreferredDeliveryMethod", "Print"),
        "IsProject": body.pop("IsProject", False),
        "ClientEntityId": "0",
        "domain": "QBO",
        "sparse": False,
        "Id": str(row["id"]),
        "SyncToken": str(row["sync_token"]),
        "MetaData": {
            "CreateTime": format_time(row["create_time"], utc_offset),
            "LastUpdatedTime": format_time(row["last_updated_time"], utc_offset),
        },
        "FullyQualifiedName": row["fully_qualified_name"],
        "DisplayName": row["display_name"],
        "Active": bool(row["active"]),
        "V4IDPseudonym": row["v4id"],
    }
    body.pop("Active", None)
    body.pop("Job", None)
    body.pop("DisplayName", None)
    body.pop("Balance", None)
    if row["parent_id"] is not None:
        out["ParentRef"] = {"value": str(row["parent_id"])}
        out["Level"] = row["level"]
    body.pop("ParentRef", None)
    out.update(body)
    out.setdefault("PrintOnCheckName", row["display_name"])
    return out


def add_to_ancestors(
    connection: Connection, realm_id: str, parent_id: int | None, cents: int
) -> None:
    """Add `cents` to the BalanceWithJobs of `parent_id` and every customer above it."""
    while parent_id is not None and cents:
        connection.execute(
            sa.update(customers)
            .where(customers.c.realm_id == realm_id, customers.c.id == parent_id)
            .values(balance_with_jobs_cents=customers.c.balance_with_jobs_cents + cents)
        )
        parent = get_customer(connection, realm_id, parent_id)
        parent_id = None if parent is None else parent["parent_id"]
