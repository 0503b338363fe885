"""One text rule for every mapper: a field made of spaces was never filled in, so each
platform's mapper reads it as absent, and keeps real text exactly as the platform has it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledgerbridge.providers.intacct.mapper import to_unified as intacct_customer
from ledgerbridge.providers.qbd.mapper import to_unified as qbd_customer
from ledgerbridge.providers.qbo.mapper import to_unified as qbo_customer
from ledgerbridge.unified.customer import UnifiedCustomer

CREATED, UPDATED = "2026-01-02T03:04:05Z", "2026-02-03T04:05:06Z"


def _qbo(name: str, notes: str) -> dict[str, Any]:
    meta = {"CreateTime": CREATED, "LastUpdatedTime": UPDATED}
    return {"Id": "1", "MetaData": meta, "DisplayName": name, "Notes": notes}


def _qbd(name: str, notes: str) -> dict[str, Any]:
    return {"id": "1", "createdAt": CREATED, "updatedAt": UPDATED, "name": name, "note": notes}


def _intacct(name: str, notes: str) -> dict[str, Any]:
    audit = {"createdDateTime": CREATED, "modifiedDateTime": UPDATED}
    return {"key": "1", "audit": audit, "name": name, "notes": notes}


MAPPERS: list[tuple[Callable[[Any], UnifiedCustomer], Callable[[str, str], dict[str, Any]]]] = [
    (qbo_customer, _qbo),
    (qbd_customer, _qbd),
    (intacct_customer, _intacct),
]


@pytest.mark.parametrize(("to_unified", "native"), MAPPERS, ids=["qbo", "qbd", "intacct"])
@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("", None),  # empty: nothing entered
        ("   ", None),  # only spaces: nothing entered either
        ("\t\n", None),  # any whitespace
        (" Acme  Ltd ", " Acme  Ltd "),  # real text is kept exactly
    ],
)
def test_blank_text_is_absent_on_every_platform(
    to_unified: Callable[[Any], UnifiedCustomer],
    native: Callable[[str, str], dict[str, Any]],
    given: str,
    read: str | None,
) -> None:
    customer = to_unified(native(given, given))
    assert (customer.display_name, customer.notes) == (read, read)
