"""QuickBooks Online's Customer business rules: input cleaning (types, unknown properties,
lengths) and create / full update / sparse update with every rule and its fault code.

Every function here raises `QboFault` before writing anything, so a refused request
changes nothing (the caller's transaction is rolled back on any fault as well).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ledgerbridge.parsing import ParseError, cents, parse_decimal, parse_id
from ledgerbridge.providers.qbo import wire
from ledgerbridge.providers.qbo.sandbox import store
from ledgerbridge.providers.qbo.sandbox.notifications import Change, record_changes
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.providers.qbo.wire import QboFault
from ledgerbridge.sandbox.tenants import TenantSettings

MAX_AMOUNT = Decimal("9999999999999.99")
"""QuickBooks amounts have 13 integer digits and 2 decimals (its UI and API refuse more)."""
CUSTOM_FIELD_PROPERTIES = {
    "DefinitionId": ("str", 100),
    "Name": ("str", 100),
    "Type": ("str", 30),
    "StringValue": ("str", 100),
}
"""Intuit documents `CustomField` as an array of CustomField objects (DefinitionId, Name,
Type, StringValue); anything else is refused with 2010 instead of being echoed back."""

# Kept in columns, not in the JSON body.
_COLUMN_PROPERTIES = ("Active", "Job", "ParentRef", "Balance", "DisplayName")


def _string(name: str, value: Any, maximum: int) -> str | None:
    if not isinstance(value, str):
        raise wire.invalid_property(name, "expected a string")
    if value == "":
        return None
    if len(value) > maximum:
        raise wire.string_length(name, maximum, len(value))
    return value


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise wire.invalid_property(name, "expected true or false")


def _decimal(name: str, value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wire.invalid_property(name, "expected a decimal number")
    if value == "":
        return None
    try:
        return parse_decimal(value, max_abs=MAX_AMOUNT, what=name)
    except ParseError as exc:
        raise wire.invalid_property(name, str(exc)) from None


def _inner(name: str, value: Any, fields: dict[str, int]) -> dict[str, str] | None:
    if not isinstance(value, dict):
        raise wire.invalid_property(name, "expected an object")
    out: dict[str, str] = {}
    for key, inner in value.items():
        if key not in fields:
            raise wire.invalid_property(f"{name}.{key}", "unknown property")
        if inner is None:
            continue
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            inner = str(inner)
        text = _string(f"{name}.{key}", inner, fields[key])
        if text is not None:
            out[key] = text
    return out or None


def _clean_value(name: str, kind: wire.Kind, maximum: int, value: Any) -> Any:
    if value is None:
        return None
    if kind == "str":
        return _string(name, value, maximum)
    if kind == "bool":
        return _boolean(name, value)
    if kind == "decimal":
        return _decimal(name, value)
    if kind == "date":
        text = _string(name, value, 10)
        if text is not None:
            try:
                date.fromisoformat(text)
            except ValueError:
                raise wire.invalid_property(name, "expected a date YYYY-MM-DD") from None
        return text
    if kind == "ref":
        if isinstance(value, dict) and isinstance(value.get("value"), int):
            value = {**value, "value": str(value["value"])}
        ref = _inner(name, value, {"value": 100, "name": 255, "type": 100})
        return ref if ref and "value" in ref else None
    if kind == "phone":
        return _inner(name, value, {"FreeFormNumber": maximum})
    if kind == "email":
        return _inner(name, value, {"Address": maximum})
    if kind == "web":
        return _inner(name, value, {"URI": maximum})
    if kind == "addr":
        return _inner(name, value, wire.ADDRESS_FIELDS)
    if name == "CustomField":
        return _custom_fields(value)
    return value  # "any": kept as sent (bounded in depth and size by the body's parser)


def _custom_fields(value: Any) -> list[dict[str, str]] | None:
    if not isinstance(value, list):
        raise wire.invalid_property("CustomField", "expected an array of CustomField objects")
    fields: list[dict[str, str]] = []
    for index, item in enumerate(value):
        name = f"CustomField[{index}]"
        if not isinstance(item, dict):
            raise wire.invalid_property(name, "expected a CustomField object")
        field = {}
        for key, inner in item.items():
            spec = CUSTOM_FIELD_PROPERTIES.get(key)
            if spec is None:
                raise wire.invalid_property(f"{name}.{key}", "unknown property")
            text = None if inner is None else _string(f"{name}.{key}", inner, spec[1])
            if text is not None:
                field[key] = text
        fields.append(field)
    return fields or None


def clean(body: Any) -> dict[str, Any]:
    """The writable properties of a request body, typed and checked; empty values dropped,
    server-set properties ignored. Unknown properties and bad types fault with 2010."""
    if not isinstance(body, dict):
        raise wire.invalid_property("Customer", "expected a JSON object")
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name in wire.READ_ONLY:
            continue
        spec = wire.WRITABLE.get(name)
        if spec is None:
            raise wire.invalid_property(name, "unknown property")
        cleaned = _clean_value(name, spec[0], spec[1], value)
        if cleaned is not None:
            out[name] = cleaned
    return out


def _display_name(data: dict[str, Any]) -> str:
    """DisplayName as sent, else built from the name parts (QuickBooks' FullName)."""
    if data.get("DisplayName"):
        return str(data["DisplayName"])
    parts = [data[p] for p in wire.NAME_ELEMENTS if data.get(p)]
    if not parts:
        raise QboFault(
            wire.NO_NAME,
            "No Name Provided",
            "Title, GivenName, MiddleName, FamilyName, DisplayName, Suffix - one of these "
            "must be non-empty",
        )
    name = " ".join(parts)
    if len(name) > wire.WRITABLE["DisplayName"][1]:
        raise wire.string_length("DisplayName", wire.WRITABLE["DisplayName"][1], len(name))
    return name


def _check_content(data: dict[str, Any], display_name: str, settings: TenantSettings) -> None:
    if ":" in display_name:
        raise wire.business(
            "The customer name must not contain a colon (:).", element="DisplayName"
        )
    email = (data.get("PrimaryEmailAddr") or {}).get("Address")
    if email is not None and ("@" not in email or "." not in email):
        raise QboFault(
            wire.INVALID_EMAIL,
            "Email Address does not conform to the syntax rules of RFC 822.",
            f"Email Address does not conform to the syntax rules of RFC 822. The e-mail address "
            f'must contain "@" and ".". Supplied value:{email}',
            element="PrimaryEmailAddr",
        )
    if settings.address_required and not (data.get("BillAddr") or data.get("ShipAddr")):
        raise wire.business("The customer address field is mandatory.", element="BillAddr")


def _check_unique(
    connection: Connection, realm_id: str, display_name: str, except_id: int | None
) -> None:
    if store.name_taken(connection, realm_id, display_name, except_id):
        raise QboFault(
            wire.DUPLICATE_NAME,
            "Duplicate Name Exists Error",
            "The name supplied already exists. : Another customer, vendor or employee is "
            "already using this name. Please use a different name.",
            element="DisplayName",
        )


def _parent(connection: Connection, realm_id: str, ref: dict[str, str]) -> RowMapping:
    value = ref.get("value", "")
    parent_id = parse_id(value)
    row = None if parent_id is None else store.get_customer(connection, realm_id, parent_id)
    if row is None or not row["active"]:
        raise QboFault(
            wire.INVALID_REFERENCE,
            "Invalid Reference Id",
            f"Invalid Reference Id : Something you're trying to use has been made inactive or "
            f"does not exist. ParentRef {value!r} is not an active customer.",
            element="ParentRef",
        )
    return row


def _check_fqn(name: str, fully_qualified_name: str) -> None:
    if len(fully_qualified_name) > wire.MAX_FULLY_QUALIFIED_NAME:
        raise wire.string_length(name, wire.MAX_FULLY_QUALIFIED_NAME, len(fully_qualified_name))


def _body(data: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in data.items() if k not in _COLUMN_PROPERTIES}
    if "CreditLimit" in body:
        body["CreditLimit"] = store.money(cents(body["CreditLimit"]))
    return body


def _searchable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "given_name": data.get("GivenName"),
        "middle_name": data.get("MiddleName"),
        "family_name": data.get("FamilyName"),
        "company_name": data.get("CompanyName"),
        "primary_email": (data.get("PrimaryEmailAddr") or {}).get("Address"),
    }


def create_customer(
    connection: Connection,
    realm_id: str,
    raw: Any,
    settings: TenantSettings,
    now: datetime,
) -> RowMapping:
    """Create a customer from a request body; the stored row is returned."""
    now = store.to_second(now)
    data = clean(raw)
    display_name = _display_name(data)
    _check_content(data, display_name, settings)
    parent: RowMapping | None = None
    if data.get("Job"):
        if "ParentRef" not in data:
            raise wire.required_missing("ParentRef")
        parent = _parent(connection, realm_id, data["ParentRef"])
        if parent["level"] + 1 > wire.MAX_LEVEL:
            raise wire.business("A customer hierarchy has at most 5 levels.", "ParentRef")
    # A ParentRef without Job=true makes a top-level customer: the user error reported
    # for the real API, kept faithful here.
    fqn = display_name if parent is None else f"{parent['fully_qualified_name']}:{display_name}"
    _check_fqn("FullyQualifiedName", fqn)
    _check_unique(connection, realm_id, display_name, None)
    balance_cents = cents(data["Balance"]) if "Balance" in data else 0
    customer_id = store.allocate_ids(connection, realm_id, 1)
    values = {
        "realm_id": realm_id,
        "id": customer_id,
        "sync_token": 0,
        "active": data.get("Active", True),
        "job": parent is not None,
        "parent_id": None if parent is None else parent["id"],
        "level": 0 if parent is None else parent["level"] + 1,
        "display_name": display_name,
        "display_name_lower": display_name.lower(),
        "fully_qualified_name": fqn,
        "balance_cents": balance_cents,
        "balance_with_jobs_cents": balance_cents,
        "v4id": store.new_v4id(),
        "create_time": now,
        "last_updated_time": now,
        "body": _body(data),
        **_searchable(data),
    }
    connection.execute(sa.insert(customers).values(**values))
    store.add_to_ancestors(connection, realm_id, values["parent_id"], balance_cents)
    record_changes(connection, realm_id, [Change(customer_id, "Create")], now)
    row = store.get_customer(connection, realm_id, customer_id)
    assert row is not None
    return row


def _descendants(connection: Connection, realm_id: str, root_id: int) -> list[RowMapping]:
    found: list[RowMapping] = []
    frontier = [root_id]
    while frontier:
        rows = list(
            connection.execute(
                sa.select(customers).where(
                    customers.c.realm_id == realm_id, customers.c.parent_id.in_(frontier)
                )
            ).mappings()
        )
        found.extend(rows)
        frontier = [r["id"] for r in rows]
    return found


def update_customer(
    connection: Connection,
    realm_id: str,
    raw: Any,
    settings: TenantSettings,
    now: datetime,
) -> RowMapping:
    """Full (`sparse` false or absent) or sparse update; needs `Id` and the current
    `SyncToken`. Balance and OpenBalanceDate are only taken on create."""
    now = store.to_second(now)
    if not isinstance(raw, dict):
        raise wire.invalid_property("Customer", "expected a JSON object")
    raw_id = raw.get("Id")
    if raw_id in (None, ""):
        raise wire.required_missing("Id")
    customer_id = parse_id(str(raw_id)) if isinstance(raw_id, str | int) else None
    row = None if customer_id is None else store.get_customer(connection, realm_id, customer_id)
    if row is None:
        raise wire.not_found(str(raw_id))
    token = raw.get("SyncToken")
    if token in (None, ""):
        raise wire.required_missing("SyncToken")
    if str(token) != str(row["sync_token"]):
        raise QboFault(
            wire.STALE_OBJECT,
            "Stale Object Error",
            f"Stale Object Error : You and another user were working on the same thing. The "
            f"other user finished first, so your changes were not saved. (SyncToken {token} "
            f"is not the current {row['sync_token']})",
        )
    sparse = _boolean("sparse", raw.get("sparse", False))
    data = clean(raw)
    data.pop("Balance", None)
    old_body: dict[str, Any] = dict(row["body"])
    if sparse:
        merged = {**old_body, "DisplayName": row["display_name"], **data}
        merged.setdefault("Active", row["active"])
        merged.setdefault("Job", row["job"])
        if row["parent_id"] is not None and "ParentRef" not in data:
            merged["ParentRef"] = {"value": str(row["parent_id"])}
    else:
        merged = data
        if "OpenBalanceDate" in old_body:
            merged["OpenBalanceDate"] = old_body["OpenBalanceDate"]
    display_name = _display_name(merged)
    _check_content(merged, display_name, settings)

    parent: RowMapping | None = None
    if merged.get("Job") and "ParentRef" in merged:
        parent = _parent(connection, realm_id, merged["ParentRef"])
    elif merged.get("Job"):
        raise wire.required_missing("ParentRef")
    if row["parent_id"] is not None and parent is None:
        raise QboFault(
            wire.SUB_CUSTOMER_TO_TOP,
            "Invalid Customer Hierarchy",
            "A sub-customer or job cannot be changed back into a top-level customer.",
            element="ParentRef",
        )
    subtree = _descendants(connection, realm_id, row["id"])
    if parent is not None:
        if parent["id"] == row["id"] or parent["id"] in {d["id"] for d in subtree}:
            raise wire.business("A customer cannot be its own parent.", "ParentRef")
        depth = max((d["level"] - row["level"] for d in subtree), default=0)
        if parent["level"] + 1 + depth > wire.MAX_LEVEL:
            raise wire.business("A customer hierarchy has at most 5 levels.", "ParentRef")
    active = bool(merged.get("Active", True))
    if row["active"] and not active and row["balance_with_jobs_cents"] != 0:
        raise QboFault(
            wire.BUSINESS_VALIDATION,
            "Delete List Has Balance Error",
            "The entity you are trying to delete has an open balance. : This customer cannot "
            "be made inactive because it has a non-zero balance",
            element="Active",
        )
    fqn = display_name if parent is None else f"{parent['fully_qualified_name']}:{display_name}"
    _check_fqn("FullyQualifiedName", fqn)
    _check_unique(connection, realm_id, display_name, row["id"])

    level = 0 if parent is None else parent["level"] + 1
    new_parent_id = None if parent is None else parent["id"]
    renamed = fqn != row["fully_qualified_name"] or level != row["level"]
    if renamed:
        _rename_subtree(connection, realm_id, row, subtree, fqn, level, now)
    if row["active"] and not active:
        _deactivate(connection, realm_id, subtree, now)
    if new_parent_id != row["parent_id"]:
        store.add_to_ancestors(
            connection, realm_id, row["parent_id"], -row["balance_with_jobs_cents"]
        )
        store.add_to_ancestors(connection, realm_id, new_parent_id, row["balance_with_jobs_cents"])
    connection.execute(
        sa.update(customers)
        .where(customers.c.realm_id == realm_id, customers.c.id == row["id"])
        .values(
            sync_token=row["sync_token"] + 1,
            active=active,
            job=parent is not None,
            parent_id=new_parent_id,
            level=level,
            display_name=display_name,
            display_name_lower=display_name.lower(),
            fully_qualified_name=fqn,
            last_updated_time=now,
            body=_body(merged),
            **_searchable(merged),
        )
    )
    record_changes(connection, realm_id, _announced(row, active, subtree, renamed), now)
    updated = store.get_customer(connection, realm_id, row["id"])
    assert updated is not None
    return updated


def _announced(
    row: RowMapping, active: bool, subtree: list[RowMapping], renamed: bool
) -> list[Change]:
    """The notifications an update sends: the customer's own, and one for each
    sub-customer it changed. Making a customer inactive is how QuickBooks Online deletes
    one (the API has no delete for customers), announced as `Delete`."""
    deactivated = bool(row["active"]) and not active
    own = Change(row["id"], "Delete" if deactivated else "Update")
    below = [
        Change(child["id"], "Delete" if deactivated and child["active"] else "Update")
        for child in subtree
        if renamed or (deactivated and child["active"])
    ]
    return [own, *below]


def _deactivate(
    connection: Connection, realm_id: str, subtree: list[RowMapping], now: datetime
) -> None:
    """Making a customer inactive makes its sub-customers inactive too, as QuickBooks does
    ("when you delete a parent customer, the sub-customers are also deleted": Intuit's
    "Manage your customer list"; deleting is making inactive in QuickBooks Online). The
    open-balance rule above already covered them: `BalanceWithJobs` sums the subtree, so
    any sub-customer's balance refuses the whole change and nothing is written."""
    for child in subtree:
        if child["active"]:
            connection.execute(
                sa.update(customers)
                .where(customers.c.realm_id == realm_id, customers.c.id == child["id"])
                .values(active=False, sync_token=child["sync_token"] + 1, last_updated_time=now)
            )


def _rename_subtree(
    connection: Connection,
    realm_id: str,
    root: RowMapping,
    subtree: list[RowMapping],
    root_fqn: str,
    root_level: int,
    now: datetime,
) -> None:
    """Keep descendants' FullyQualifiedName and Level right after a rename or a move; they
    change, so their SyncToken and LastUpdatedTime move too (a sync then sees them)."""
    names = {root["id"]: root_fqn}
    levels = {root["id"]: root_level}
    for child in subtree:  # breadth-first: parents come before their children
        parent_id = child["parent_id"]
        fqn = f"{names[parent_id]}:{child['display_name']}"
        _check_fqn("FullyQualifiedName", fqn)
        names[child["id"]] = fqn
        levels[child["id"]] = levels[parent_id] + 1
    for child in subtree:
        connection.execute(
            sa.update(customers)
            .where(customers.c.realm_id == realm_id, customers.c.id == child["id"])
            .values(
                fully_qualified_name=names[child["id"]],
                level=levels[child["id"]],
                sync_token=child["sync_token"] + 1,
                last_updated_time=now,
            )
        )
