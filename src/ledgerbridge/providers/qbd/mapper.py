"""Pure mapping between Conductor's `qbd_customer` and the unified customer, both ways.

Money stays exact (decimal strings to integer cents and back, never floats); QuickBooks
Desktop's local times with offsets become UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledgerbridge.providers.base import MappedCustomer, RecordVersion
from ledgerbridge.providers.qbd.wire import NAME_MAX, parse_time
from ledgerbridge.unified.customer import (
    Address,
    UnifiedCustomer,
    iso_utc,
    optional_text,
    to_cents,
)

# QuickBooks Desktop names its currencies in words; the seed's example uses ISO codes.
CURRENCY_CODES: dict[str, str] = {
    "us dollar": "USD",
    "canadian dollar": "CAD",
    "british pound sterling": "GBP",
    "euro": "EUR",
    "australian dollar": "AUD",
    "mexican peso": "MXN",
}

MOBILE_FIELD = "Mobile"
"""QuickBooks Desktop keeps a mobile number as the contact field named "Mobile"."""


def _address(native: Mapping[str, Any] | None) -> Address | None:
    if not native:
        return None
    address = Address(
        line1=optional_text(native.get("line1")),
        line2=optional_text(native.get("line2")),
        line3=optional_text(native.get("line3")),
        city=optional_text(native.get("city")),
        state=optional_text(native.get("state")),
        postal_code=optional_text(native.get("postalCode")),
        country=optional_text(native.get("country")),
    )
    return None if address == Address() else address


def currency_code(full_name: str | None) -> str | None:
    """The ISO 4217 code of a QuickBooks Desktop currency name (`US Dollar` → `USD`)."""
    if not full_name:
        return None
    if len(full_name) == 3 and full_name.isalpha():
        return full_name.upper()
    return CURRENCY_CODES.get(full_name.strip().lower())


def _reference_id(reference: Mapping[str, Any] | None) -> str | None:
    return None if not reference else optional_text(reference.get("id"))


def _mobile(fields: Any) -> str | None:
    for field in fields or ():
        if str(field.get("name", "")).strip().lower() == MOBILE_FIELD.lower():
            return optional_text(field.get("value"))
    return None


def _taxable(sales_tax_code: Mapping[str, Any] | None) -> bool:
    # QuickBooks Desktop ships two codes, "Tax" and "Non"; any code but "Non" is taxable.
    if not sales_tax_code:
        return False
    return str(sales_tax_code.get("fullName") or "").strip().lower() != "non"


def to_unified(customer: Mapping[str, Any]) -> UnifiedCustomer:
    """A `qbd_customer` dict as Conductor returns it → `UnifiedCustomer`."""
    currency = customer.get("currency") or {}
    return UnifiedCustomer(
        id=customer["id"],
        created_at=parse_time(customer["createdAt"]),
        updated_at=parse_time(customer["updatedAt"]),
        given_name=optional_text(customer.get("firstName")),
        middle_name=optional_text(customer.get("middleName")),
        family_name=optional_text(customer.get("lastName")),
        display_name=optional_text(customer.get("name")),
        company_name=optional_text(customer.get("companyName")),
        fully_qualified_name=optional_text(customer.get("fullName")),
        parent_id=_reference_id(customer.get("parent")),
        active=bool(customer.get("isActive", True)),
        balance_cents=to_cents(customer.get("balance")) or 0,
        taxable=_taxable(customer.get("salesTaxCode")),
        primary_email=optional_text(customer.get("email")),
        primary_phone=optional_text(customer.get("phone")),
        mobile_phone=_mobile(customer.get("customContactFields")),
        bill_address=_address(customer.get("billingAddress")),
        ship_address=_address(customer.get("shippingAddress")),
        currency=currency_code(currency.get("fullName")),
        notes=optional_text(customer.get("note")),
        credit_limit_cents=to_cents(customer.get("creditLimit")),
    )


_ADDRESS_READ = (
    ("line1", "line1"),
    ("line2", "line2"),
    ("line3", "line3"),
    ("city", "city"),
    ("state", "state"),
    ("postal_code", "postalCode"),
    ("country", "country"),
)


def _address_payload(native: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    """`_address` as its payload: the same fields in the same order, or None."""
    if not native:
        return None
    fields: dict[str, str | None] = {"id": None}
    fields.update((ours, optional_text(native.get(theirs))) for ours, theirs in _ADDRESS_READ)
    return fields if any(fields.values()) else None


def unified_payload(customer: Mapping[str, Any]) -> dict[str, Any]:
    """`to_unified(customer).to_payload()`, built directly (no Pydantic model on a sync's
    path): every field of the unified customer in the model's order. An id that is not
    text goes through the model, which refuses it."""
    if not isinstance(customer["id"], str):
        return to_unified(customer).to_payload()
    currency = customer.get("currency") or {}
    return {
        "id": customer["id"],
        "created_at": iso_utc(parse_time(customer["createdAt"])),
        "updated_at": iso_utc(parse_time(customer["updatedAt"])),
        "given_name": optional_text(customer.get("firstName")),
        "display_name": optional_text(customer.get("name")),
        "active": bool(customer.get("isActive", True)),
        "balance_cents": to_cents(customer.get("balance")) or 0,
        "taxable": _taxable(customer.get("salesTaxCode")),
        "primary_email": optional_text(customer.get("email")),
        "primary_phone": optional_text(customer.get("phone")),
        "bill_address": _address_payload(customer.get("billingAddress")),
        "ship_address": _address_payload(customer.get("shippingAddress")),
        "family_name": optional_text(customer.get("lastName")),
        "middle_name": optional_text(customer.get("middleName")),
        "company_name": optional_text(customer.get("companyName")),
        "fully_qualified_name": optional_text(customer.get("fullName")),
        "parent_id": _reference_id(customer.get("parent")),
        "currency": currency_code(currency.get("fullName")),
        "notes": optional_text(customer.get("note")),
        "mobile_phone": _mobile(customer.get("customContactFields")),
        "credit_limit_cents": to_cents(customer.get("creditLimit")),
    }


def mapped(customer: Mapping[str, Any]) -> MappedCustomer:
    """A Conductor customer as the record store takes it. Inactive customers are hidden in
    QuickBooks, its way of retiring a name: recorded as deleted."""
    native = customer if isinstance(customer, dict) else dict(customer)
    payload = unified_payload(native)
    revision = native.get("revisionNumber")
    return MappedCustomer(
        external_id=payload["id"],
        payload=payload,
        native=native,
        deleted=not native.get("isActive", True),
        version=RecordVersion(
            None if revision is None else str(revision), parse_time(native["updatedAt"])
        ),
    )


def _native_address(address: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not address:
        return None
    pairs = {
        "line1": address.get("line1"),
        "line2": address.get("line2"),
        "line3": address.get("line3"),
        "city": address.get("city"),
        "state": address.get("state"),
        "postalCode": address.get("postal_code"),
        "country": address.get("country"),
    }
    native = {key: str(value) for key, value in pairs.items() if value not in (None, "")}
    return native or None


def _amount(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


# Unified field → Conductor body field, for the plain strings.
_TEXT_FIELDS = {
    "given_name": "firstName",
    "middle_name": "middleName",
    "family_name": "lastName",
    "company_name": "companyName",
    "primary_email": "email",
    "primary_phone": "phone",
    "notes": "note",
    "parent_id": "parentId",
}


def _body(fields: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if fields.get("display_name"):
        body["name"] = str(fields["display_name"])[:NAME_MAX]
    for unified, native in _TEXT_FIELDS.items():
        if fields.get(unified) not in (None, ""):
            body[native] = str(fields[unified])
    if "active" in fields and fields["active"] is not None:
        body["isActive"] = bool(fields["active"])
    for unified, native in (
        ("bill_address", "billingAddress"),
        ("ship_address", "shippingAddress"),
    ):
        value = fields.get(unified)
        address = _native_address(value.model_dump() if isinstance(value, Address) else value)
        if address:
            body[native] = address
    if fields.get("credit_limit_cents") is not None:
        body["creditLimit"] = _amount(int(fields["credit_limit_cents"]))
    if fields.get("mobile_phone"):
        body["customContactFields"] = [{"name": MOBILE_FIELD, "value": fields["mobile_phone"]}]
    return body


def to_create_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Unified fields (`display_name`, `given_name`, `bill_address`, ...) → the body of
    `POST /quickbooks-desktop/customers`. `display_name` becomes the required `name`;
    `balance_cents` the create-only `openingBalance`.

    Currency is not mapped: Conductor takes a `currencyId` of the company's own currency
    list, which only the connector can look up (see `unwritable_fields`)."""
    body = _body(fields)
    if "name" not in body:
        raise ValueError("display_name is required to create a QuickBooks Desktop customer")
    if fields.get("balance_cents"):
        body["openingBalance"] = _amount(int(fields["balance_cents"]))
    return body


# What an explicit null clears in an update: QuickBooks Desktop clears a field sent empty
# and keeps one left out, so a null must travel as "" to mean "remove this value".
_CLEARABLE = {unified: native for unified, native in _TEXT_FIELDS.items() if unified != "parent_id"}
_ADDRESS_LINES = ("line1", "line2", "line3", "city", "state", "postalCode", "country")


def _contact_fields(mobile: str | None, current: Mapping[str, Any]) -> list[dict[str, Any]]:
    # `customContactFields` is replaced as a whole, so the other fields ("Main Phone", ...)
    # are sent back unchanged and only the "Mobile" entry is set or dropped.
    kept = [
        {"name": field["name"], "value": field["value"]}
        for field in current.get("customContactFields") or ()
        if str(field.get("name", "")).strip().lower() != MOBILE_FIELD.lower()
    ]
    return kept + ([{"name": MOBILE_FIELD, "value": mobile}] if mobile else [])


def to_update_body(
    fields: Mapping[str, Any],
    revision_number: str,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Unified fields that changed → the body of `POST /quickbooks-desktop/customers/{id}`,
    carrying the `revision_number` the change is based on.

    A field given as None is cleared (sent as ""); an address is sent whole, its missing
    lines cleared. With `current` (the customer as last read), a mobile number is merged
    into its other contact fields instead of replacing them."""
    body = {"revisionNumber": revision_number, **_body(fields)}
    for unified, native in _CLEARABLE.items():
        if unified in fields and fields[unified] in (None, ""):
            body[native] = ""
    for unified, native in (
        ("bill_address", "billingAddress"),
        ("ship_address", "shippingAddress"),
    ):
        if unified in fields:
            body[native] = dict.fromkeys(_ADDRESS_LINES, "") | body.get(native, {})
    if current is not None and "mobile_phone" in fields:
        contact_fields = _contact_fields(fields["mobile_phone"] or None, current)
        if contact_fields:
            body["customContactFields"] = contact_fields
    return body


def unwritable_fields(fields: Mapping[str, Any], current: Mapping[str, Any] | None) -> list[str]:
    """The unified fields of a create (`current` None) or an update that Conductor cannot
    set from them, where they ask for something other than what QuickBooks has or will
    assign: `currency` and `taxable` (set through ids of the company's own currency and
    sales-tax-code lists), `balance_cents` after the create (QuickBooks computes it from
    transactions), and clearing `display_name`, `parent_id` or `credit_limit_cents`."""
    refused: list[str] = []
    if current is None:
        if fields.get("currency") is not None:
            refused.append("currency")
        if fields.get("taxable"):
            refused.append("taxable")
        return refused
    unified = to_unified(current)
    for name in ("currency", "taxable", "balance_cents"):
        if name in fields and fields[name] is not None and fields[name] != getattr(unified, name):
            refused.append(name)
    for name in ("display_name", "parent_id", "credit_limit_cents"):
        if name in fields and fields[name] in (None, "") and getattr(unified, name) is not None:
            refused.append(name)
    return refused
