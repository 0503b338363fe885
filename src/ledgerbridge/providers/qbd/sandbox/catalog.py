"""The other lists a sandbox company file has (classes, terms, currencies, ...), which
customers refer to. The same small catalog in every company file: enough for realistic
references and for refusing an unknown `*Id` the way QuickBooks Desktop does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListKind:
    """One QuickBooks list: its name in QuickBooks' error messages and its entries."""

    label: str
    entries: dict[str, str]  # id → fullName


def _entries(serial: int, *names: str) -> dict[str, str]:
    # Ids in QuickBooks Desktop's form, created when the company file was set up.
    return {f"{serial + index:X}-1609459200": name for index, name in enumerate(names, 1)}


CATALOG: dict[str, ListKind] = {
    "classId": ListKind("Class", _entries(0x10000, "Consulting", "Retail", "Wholesale")),
    "customerTypeId": ListKind(
        "CustomerType", _entries(0x20000, "Retail Customer", "Commercial", "Referral")
    ),
    "termsId": ListKind("Terms", _entries(0x30000, "Net 15", "Net 30", "Due on receipt")),
    "salesRepresentativeId": ListKind(
        "SalesRep", _entries(0x40000, "Jane Doe", "Omar Khan", "Li Wei")
    ),
    "salesTaxCodeId": ListKind("SalesTaxCode", _entries(0x50000, "Tax", "Non")),
    "salesTaxItemId": ListKind(
        "ItemSalesTax", _entries(0x60000, "State Sales Tax", "County Sales Tax")
    ),
    "preferredPaymentMethodId": ListKind(
        "PaymentMethod", _entries(0x70000, "Credit Card", "Check", "Cash", "ACH")
    ),
    "jobTypeId": ListKind(
        "JobType", _entries(0x90000, "Installation", "Repair", "New Construction")
    ),
    "priceLevelId": ListKind(
        "PriceLevel", _entries(0xA0000, "Gold Member Pricing", "Wholesale Pricing")
    ),
    "currencyId": ListKind(
        "Currency",
        _entries(0xB0000, "US Dollar", "Canadian Dollar", "British Pound Sterling", "Euro"),
    ),
}

HOME_CURRENCY_ID = next(iter(CATALOG["currencyId"].entries))


def reference(body_field: str, reference_id: str) -> dict[str, str] | None:
    """`{id, fullName}` of an entry of the list a body field (`classId`, ...) refers to."""
    full_name = CATALOG[body_field].entries.get(reference_id)
    return None if full_name is None else {"id": reference_id, "fullName": full_name}
