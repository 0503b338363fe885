"""Pure mapping between QuickBooks Online Customer objects and the unified customer.

No I/O: native dicts in, `UnifiedCustomer` out, and unified fields back to a QuickBooks
create or sparse-update body. Money goes through Decimal (`to_cents`), never float maths.

A sync maps every customer it reads, so `mapped` builds the stored payload directly
(`unified_payload`: the very dict `to_unified(...).to_payload()` gives, without a Pydantic
model in between; a test holds the two equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ledgerbridge.providers.base import MappedCustomer, RecordVersion
from ledgerbridge.unified.customer import (
    Address,
    UnifiedCustomer,
    iso_utc,
    optional_text,
    to_cents,
)

_ADDRESS_MAP = {
    "id": "Id",
    "line1": "Line1",
    "line2": "Line2",
    "line3": "Line3",
    "city": "City",
    "state": "CountrySubDivisionCode",
    "postal_code": "PostalCode",
    "country": "Country",
}


def parse_qbo_time(text: str) -> datetime:
    """A QuickBooks timestamp (`2026-03-31T16:49:28-07:00`, or `Z` for UTC) as an aware
    datetime."""
    moment = datetime.fromisoformat(text)  # reads "Z" since Python 3.11
    if moment.tzinfo is None:
        raise ValueError(f"QuickBooks time without an offset: {text!r}")
    return moment


def _inner(value: Any, field: str) -> str | None:
    """The text of `field` inside a reference such as `PrimaryPhone` (None without one)."""
    return optional_text(value.get(field)) if isinstance(value, dict) else None


def _address(value: Any) -> Address | None:
    fields = _address_payload(value)
    return None if fields is None else Address(**fields)


def to_unified(customer: dict[str, Any]) -> UnifiedCustomer:
    """A QuickBooks Customer object (as the API returns it) as a unified customer."""
    meta = customer.get("MetaData") or {}
    return UnifiedCustomer(
        id=str(customer["Id"]),
        created_at=parse_qbo_time(meta["CreateTime"]),
        updated_at=parse_qbo_time(meta["LastUpdatedTime"]),
        given_name=optional_text(customer.get("GivenName")),
        display_name=optional_text(customer.get("DisplayName")),
        active=bool(customer.get("Active", True)),
        balance_cents=_cents(customer.get("Balance")) or 0,
        taxable=bool(customer.get("Taxable", False)),
        primary_email=_inner(customer.get("PrimaryEmailAddr"), "Address"),
        primary_phone=_inner(customer.get("PrimaryPhone"), "FreeFormNumber"),
        bill_address=_address(customer.get("BillAddr")),
        ship_address=_address(customer.get("ShipAddr")),
        family_name=optional_text(customer.get("FamilyName")),
        middle_name=optional_text(customer.get("MiddleName")),
        company_name=optional_text(customer.get("CompanyName")),
        fully_qualified_name=optional_text(customer.get("FullyQualifiedName")),
        parent_id=_inner(customer.get("ParentRef"), "value"),
        currency=_inner(customer.get("CurrencyRef"), "value"),
        notes=optional_text(customer.get("Notes")),
        mobile_phone=_inner(customer.get("Mobile"), "FreeFormNumber"),
        credit_limit_cents=_cents(customer.get("CreditLimit")),
    )


def _address_payload(value: Any) -> dict[str, str | None] | None:
    """An address's fields in the unified model's order, or None when none is filled in:
    the one read mapping, which `_address` makes a model of. Spelled out rather than a loop
    over `_ADDRESS_MAP` (the write mapping; a round-trip test holds the two equal): addresses
    are most of a customer's fields, and the loop cost a sync 0.2 µs more an address."""
    if not isinstance(value, dict):
        return None
    get = value.get
    fields = {
        "id": optional_text(get("Id")),
        "line1": optional_text(get("Line1")),
        "line2": optional_text(get("Line2")),
        "line3": optional_text(get("Line3")),
        "city": optional_text(get("City")),
        "state": optional_text(get("CountrySubDivisionCode")),
        "postal_code": optional_text(get("PostalCode")),
        "country": optional_text(get("Country")),
    }
    return fields if any(fields.values()) else None  # each value is None or non-blank text


def _cents(value: Any) -> int | None:
    """Exact cents of a QuickBooks amount (`to_cents`: a JSON float such as 629.1 by its
    repr, never its binary value); None when there is none (absent, null, a boolean)."""
    if value is None or isinstance(value, bool):
        return None
    return to_cents(value)


def _payload(customer: dict[str, Any], updated_at: datetime) -> dict[str, Any]:
    get = customer.get
    meta = get("MetaData") or {}
    return {
        "id": str(customer["Id"]),
        "created_at": iso_utc(parse_qbo_time(meta["CreateTime"])),
        "updated_at": iso_utc(updated_at),
        "given_name": optional_text(get("GivenName")),
        "display_name": optional_text(get("DisplayName")),
        "active": bool(get("Active", True)),
        "balance_cents": _cents(get("Balance")) or 0,
        "taxable": bool(get("Taxable", False)),
        "primary_email": _inner(get("PrimaryEmailAddr"), "Address"),
        "primary_phone": _inner(get("PrimaryPhone"), "FreeFormNumber"),
        "bill_address": _address_payload(get("BillAddr")),
        "ship_address": _address_payload(get("ShipAddr")),
        "family_name": optional_text(get("FamilyName")),
        "middle_name": optional_text(get("MiddleName")),
        "company_name": optional_text(get("CompanyName")),
        "fully_qualified_name": optional_text(get("FullyQualifiedName")),
        "parent_id": _inner(get("ParentRef"), "value"),
        "currency": _inner(get("CurrencyRef"), "value"),
        "notes": optional_text(get("Notes")),
        "mobile_phone": _inner(get("Mobile"), "FreeFormNumber"),
        "credit_limit_cents": _cents(get("CreditLimit")),
    }


def _updated_at(customer: dict[str, Any]) -> datetime:
    meta = customer.get("MetaData") or {}
    return parse_qbo_time(meta["LastUpdatedTime"]).astimezone(UTC)


def unified_payload(customer: dict[str, Any]) -> dict[str, Any]:
    """`to_unified(customer).to_payload()`, built directly: every field of the unified
    customer in the model's order, times in UTC text, money in exact cents."""
    return _payload(customer, _updated_at(customer))


def mapped(customer: Mapping[str, Any]) -> MappedCustomer:
    """A QuickBooks Customer as the record store takes it. QuickBooks cannot delete a
    customer; it deactivates it (`Active: false`), recorded as a delete."""
    native = customer if isinstance(customer, dict) else dict(customer)
    updated_at = _updated_at(native)
    return MappedCustomer(
        external_id=str(native["Id"]),
        payload=_payload(native, updated_at),
        native=native,
        deleted=native.get("Active", True) is False,
        version=RecordVersion(_version_token(native.get("SyncToken")), updated_at),
    )


def _version_token(value: Any) -> str | None:
    return None if value is None else str(value)


def _address_body(address: Address) -> dict[str, str]:
    data = address.model_dump()
    return {theirs: data[ours] for ours, theirs in _ADDRESS_MAP.items() if data[ours] is not None}


def _cents_to_number(cents: int) -> Decimal:
    return Decimal(cents) / 100


_FIELD_WRITERS: dict[str, str] = {
    "given_name": "GivenName",
    "display_name": "DisplayName",
    "family_name": "FamilyName",
    "middle_name": "MiddleName",
    "company_name": "CompanyName",
    "notes": "Notes",
    "active": "Active",
    "taxable": "Taxable",
}


def unified_fields_to_qbo(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Unified field values (any subset) as QuickBooks Customer properties.

    Read-only unified fields (`id`, times, `fully_qualified_name`) are left out; so is
    `balance_cents` on anything but a create, which `to_create_body` handles.
    """
    body: dict[str, Any] = {}
    for ours, theirs in _FIELD_WRITERS.items():
        if ours in fields:
            body[theirs] = fields[ours] if fields[ours] is not None else ""
    if "primary_email" in fields:
        body["PrimaryEmailAddr"] = {"Address": fields["primary_email"] or ""}
    if "primary_phone" in fields:
        body["PrimaryPhone"] = {"FreeFormNumber": fields["primary_phone"] or ""}
    if "mobile_phone" in fields:
        body["Mobile"] = {"FreeFormNumber": fields["mobile_phone"] or ""}
    for ours, theirs in (("bill_address", "BillAddr"), ("ship_address", "ShipAddr")):
        if ours in fields:
            value = fields[ours]
            address = value if isinstance(value, Address) or value is None else Address(**value)
            body[theirs] = _address_body(address) if address is not None else {}
    if fields.get("currency"):
        body["CurrencyRef"] = {"value": fields["currency"]}
    if fields.get("parent_id"):
        body["Job"] = True
        body["ParentRef"] = {"value": str(fields["parent_id"])}
    if fields.get("credit_limit_cents") is not None:
        body["CreditLimit"] = _cents_to_number(int(fields["credit_limit_cents"]))
    return body


_SERVER_SET = ("id", "created_at", "updated_at", "fully_qualified_name")


def to_create_body(customer: UnifiedCustomer | Mapping[str, Any]) -> dict[str, Any]:
    """A QuickBooks create body from a unified customer or any subset of its fields
    (opening balance included; server-set fields and None values left out)."""
    if isinstance(customer, UnifiedCustomer):
        customer = customer.model_dump(exclude_none=True)
    data = {k: v for k, v in customer.items() if v is not None and k not in _SERVER_SET}
    balance = data.pop("balance_cents", 0)
    body = unified_fields_to_qbo(data)
    if balance:
        body["Balance"] = _cents_to_number(balance)
    return body


def to_sparse_update_body(
    customer_id: str, sync_token: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """A QuickBooks sparse update changing only `changes` (unified field names)."""
    return {
        "Id": customer_id,
        "SyncToken": sync_token,
        "sparse": True,
        **unified_fields_to_qbo(changes),
    }
