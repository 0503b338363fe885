"""Customers of one sandbox company: read them as Intacct objects, create, PATCH, delete.

Every function takes the company (`tenant_id`) and never touches another company's rows,
and the request's `Scope` in a multi-entity company (see `entities.py`): a customer the
scope cannot see is not found, and one created in an entity belongs to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerbridge.parsing import parse_id
from ledgerbridge.providers.intacct.sandbox import cache, entities
from ledgerbridge.providers.intacct.sandbox.entities import TOP_LEVEL, Scope
from ledgerbridge.providers.intacct.sandbox.tables import customers
from ledgerbridge.providers.intacct.sandbox.values import from_wire, to_wire
from ledgerbridge.providers.intacct.wire import (
    CONFLICT,
    FIELDS,
    NOT_FOUND,
    OPERATION_FAILED,
    Field,
    IntacctError,
    bad_request,
    href,
)

parents = customers.alias("parent")

# Where the other objects a customer points to live, for their `href`.
_REFERENCE_PATHS = {
    "customerType": "/objects/accounts-receivable/customer-type",
    "term": "/objects/accounts-receivable/term",
    "salesRepresentative": "/objects/company-config/employee",
    "shippingMethod": "/objects/accounts-receivable/shipping-method",
    "defaultRevenueGLAccount": "/objects/general-ledger/account",
    "overrideOffsetGLAccount": "/objects/general-ledger/account",
    "accountGroup": "/objects/accounts-receivable/customer-account-group",
    "accountLabel": "/objects/accounts-receivable/account-label",
    "priceList": "/objects/order-entry/price-list",
    "priceSchedule": "/objects/purchasing/price-schedule",
    "territory": "/objects/accounts-receivable/territory",
    "attachment": "/objects/company-config/attachment",
    "contacts.primary": "/objects/company-config/contact",
    "contacts.billTo": "/objects/company-config/contact",
    "contacts.shipTo": "/objects/company-config/contact",
}

# The request body tree of writable fields: nested dicts down to `Field` leaves.
_WRITABLE: dict[str, Any] = {}
for _field in FIELDS:
    if not _field.writable or _field.path == "parent.key":
        continue
    *_parents, _leaf = _field.path.split(".")
    _node = _WRITABLE
    for _part in _parents:
        _node = _node.setdefault(_part, {})
    _node[_leaf] = _field
_READ_ONLY = {field.path for field in FIELDS if not field.writable} | {"href"}


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    *branches, leaf = path.split(".")
    for branch in branches:
        target = target.setdefault(branch, {})
    target[leaf] = value


def render(
    row: sa.Row[Any], parent: sa.Row[Any] | None, entity: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The full customer object as `GET .../customer/{key}` returns it; empty fields are
    left out, as the spec's types do not allow nulls for most of them. `entity` is the
    owning entity's reference, given in multi-entity companies only."""
    mapping = row._mapping
    result: dict[str, Any] = {}
    for field in FIELDS:
        value = to_wire(field.kind, mapping[field.column])
        if value is not None:
            _set(result, field.path, value)
    result["href"] = href(mapping["key"])
    if parent is not None:
        result["parent"] = {
            "key": str(parent.key),
            "id": parent.id,
            "name": parent.name,
            "href": href(parent.key),
        }
    for reference, base in _REFERENCE_PATHS.items():
        node: Any = result
        for part in reference.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "key" in node:
            node["href"] = f"{base}/{node['key']}"
    if entity is not None:
        result["entity"] = entity
    return result


def get_row(
    connection: Connection,
    tenant_id: str,
    key: int,
    visible: ColumnElement[bool] | None = None,
) -> sa.Row[Any] | None:
    """The customer's row, if the company has it and `visible` (a scope's condition) holds."""
    query = sa.select(customers).where(customers.c.tenant_id == tenant_id, customers.c.key == key)
    if visible is not None:
        query = query.where(visible)
    return connection.execute(query).first()


def _entity_reference(connection: Connection, tenant_id: str, row: sa.Row[Any]) -> dict[str, Any]:
    """The `entity` of a customer in a multi-entity company: null members at the top level."""
    owner = entities.get_entity(connection, tenant_id, row.entity_key) if row.entity_key else None
    if owner is None:
        return {"key": None, "id": None, "name": None}
    return owner.reference()


def parse_key(raw: str) -> int:
    """The integer key of a path segment; 404 when it cannot be a key (`"²"`, 10**20)."""
    key = parse_id(raw)
    if key is None:
        raise not_found(raw)
    return key


def not_found(key: object) -> IntacctError:
    return IntacctError(
        404,
        f"Customer with key {key} was not found",
        code=NOT_FOUND,
        error_id="REST-1005",
        message_id="IA.REQUESTED_RESOURCE_NOT_FOUND",
        placeholders={"KEY": str(key)},
    )


def get_customer(
    connection: Connection, tenant_id: str, key: int, scope: Scope = TOP_LEVEL
) -> dict[str, Any]:
    """The full object; 404 when the company has no customer with that key in the scope."""
    row = get_row(connection, tenant_id, key, scope.visible())
    if row is None:
        raise not_found(key)
    parent = get_row(connection, tenant_id, row.parent_key) if row.parent_key else None
    entity = _entity_reference(connection, tenant_id, row) if scope.multi_entity else None
    return render(row, parent, entity)


def _flatten(body: dict[str, Any], tree: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for name, raw in body.items():
        path = f"{prefix}{name}"
        target = "/" + path.replace(".", "/")
        node = tree.get(name)
        if node is None:
            if path in _READ_ONLY or path.startswith("audit"):
                raise bad_request(f"{target} is read-only", target, error_id="REST-1044")
            raise bad_request(f"{target} is not a valid field", target, error_id="REST-1043")
        if isinstance(node, Field):
            out[node.column] = from_wire(node, raw)
        elif raw is None:
            continue
        elif not isinstance(raw, dict):
            raise bad_request(f"{target} must be an object", target)
        else:
            _flatten(raw, node, f"{path}.", out)


def parse_body(body: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The column values a create or PATCH body sets, and the parent reference it names
    (None when absent; `{}` when it clears the parent). 400 for anything malformed."""
    if not isinstance(body, dict) or not body:
        raise IntacctError(
            400,
            "The request requires a payload",
            error_id="REST-1028",
            message_id="IA.REQUEST_REQUIRES_A_PAYLOAD",
        )
    body = dict(body)
    parent = body.pop("parent", None) if "parent" in body else None
    if parent is not None:
        if not isinstance(parent, dict) or not set(parent) <= {"key", "id"}:
            raise bad_request("/parent must be an object with key or id", "/parent")
        if any(not isinstance(value, str | int) for value in parent.values()):
            raise bad_request("/parent key and id must be strings", "/parent")
    values: dict[str, Any] = {}
    _flatten(body, _WRITABLE, "", values)
    return values, parent


def _resolve_parent(
    connection: Connection,
    tenant_id: str,
    reference: dict[str, Any],
    child_key: int | None,
    scope: Scope,
) -> int | None:
    """The key of the parent a body names; it must be a customer the scope can see."""
    if not reference:
        return None
    visible = scope.visible()
    if "key" in reference:
        key = parse_id(str(reference["key"]))
        row = None if key is None else get_row(connection, tenant_id, key, visible)
    else:
        query = sa.select(customers).where(
            customers.c.tenant_id == tenant_id, customers.c.id == str(reference["id"])
        )
        row = connection.execute(query if visible is None else query.where(visible)).first()
    if row is None:
        raise IntacctError(
            422,
            f"Parent customer {reference} does not exist",
            code=OPERATION_FAILED,
            error_id="REST-2001",
            message_id="IA.INVALID_REFERENCE",
            details=[],
        )
    # Walk up from the new parent: a customer cannot become its own ancestor.
    ancestor: sa.Row[Any] | None = row
    while ancestor is not None and child_key is not None:
        if ancestor.key == child_key:
            raise IntacctError(
                422,
                "A customer cannot be its own parent or the parent of its ancestors",
                code=OPERATION_FAILED,
                error_id="REST-2002",
                message_id="IA.CIRCULAR_PARENT",
            )
        ancestor = (
            get_row(connection, tenant_id, ancestor.parent_key) if ancestor.parent_key else None
        )
    return int(row.key)


def _check_unique_id(connection: Connection, tenant_id: str, id_: str, key: int | None) -> None:
    query = sa.select(customers.c.key).where(
        customers.c.tenant_id == tenant_id, customers.c.id == id_
    )
    if key is not None:
        query = query.where(customers.c.key != key)
    if connection.execute(query).first() is not None:
        raise IntacctError(
            409,
            f"A customer with ID {id_} already exists",
            code=CONFLICT,
            error_id="REST-2009",
            message_id="IA.DUPLICATE_VALUE",
            details=[],
            placeholders={"ID": id_},
        )


_DEFAULTS = {
    "status": "active",
    "is_on_hold": False,
    "email_opt_in": False,
    "enable_online_achpayment": True,
    "enable_online_card_payment": True,
    "is_one_time_use": False,
    "override_price_list": "customer",
    "total_due": 0,
}


def create_customer(
    connection: Connection,
    tenant_id: str,
    body: Any,
    *,
    now: datetime,
    user: str,
    scope: Scope = TOP_LEVEL,
) -> dict[str, str]:
    """Insert a customer from a create body; `{key, id, href}` of the new customer, which
    belongs to the scope's entity (none at the top level)."""
    values, parent = parse_body(body)
    if not values.get("name"):
        raise bad_request("/name is required", "/name", error_id="REST-1013")
    if values.get("id") is not None:
        _check_unique_id(connection, tenant_id, values["id"], None)
    row = {**_DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
    row.update(
        tenant_id=tenant_id,
        parent_key=_resolve_parent(connection, tenant_id, parent, None, scope) if parent else None,
        entity_key=scope.owner_key,
        audit_created_date_time=now,
        audit_modified_date_time=now,
        audit_created_by=user,
        audit_modified_by=user,
    )
    inserted = connection.execute(sa.insert(customers).values(row)).inserted_primary_key
    assert inserted is not None  # an autoincrement key always comes back
    key = int(inserted[0])
    id_ = values.get("id")
    if id_ is None:
        # Without a user ID, Intacct's document sequence numbers the customer.
        id_ = f"CUST-{key:05d}"
        _check_unique_id(connection, tenant_id, id_, key)
        connection.execute(sa.update(customers).where(customers.c.key == key).values(id=id_))
    cache.touch(connection, tenant_id)
    return {"key": str(key), "id": id_, "href": href(key)}


def update_customer(
    connection: Connection,
    tenant_id: str,
    key: int,
    body: Any,
    *,
    now: datetime,
    user: str,
    scope: Scope = TOP_LEVEL,
) -> dict[str, str]:
    """Apply a PATCH: only the fields sent change. The owning entity never changes."""
    existing = get_row(connection, tenant_id, key, scope.visible())
    if existing is None:
        raise not_found(key)
    values, parent = parse_body(body)
    if "name" in values and not values["name"]:
        raise bad_request("/name cannot be empty", "/name", error_id="REST-1013")
    if "id" in values and values["id"] != existing.id:
        if not values["id"]:
            raise bad_request("/id cannot be empty", "/id", error_id="REST-1013")
        _check_unique_id(connection, tenant_id, values["id"], key)
    if "status" in values and values["status"] is None:
        raise bad_request("/status cannot be empty", "/status", error_id="REST-1013")
    if parent is not None:
        values["parent_key"] = _resolve_parent(connection, tenant_id, parent, key, scope)
    values.update(audit_modified_date_time=now, audit_modified_by=user)
    connection.execute(
        sa.update(customers)
        .where(customers.c.tenant_id == tenant_id, customers.c.key == key)
        .values(values)
    )
    cache.touch(connection, tenant_id)
    return {"key": str(key), "id": values.get("id") or existing.id, "href": href(key)}


def delete_customer(
    connection: Connection, tenant_id: str, key: int, scope: Scope = TOP_LEVEL
) -> None:
    """Delete a customer, unless it has been used: an open balance stands for "used in a
    transaction", and a parent of other customers (in any entity) cannot go either."""
    existing = get_row(connection, tenant_id, key, scope.visible())
    if existing is None:
        raise not_found(key)
    if existing.total_due:
        raise IntacctError(
            422,
            f"Customer {existing.id} cannot be deleted because it is used in transactions; "
            "set its status to inactive instead",
            code=OPERATION_FAILED,
            error_id="REST-2010",
            message_id="IA.CANNOT_DELETE_RECORD_IN_USE",
            placeholders={"ID": existing.id},
        )
    child = connection.execute(
        sa.select(customers.c.key).where(
            customers.c.tenant_id == tenant_id, customers.c.parent_key == key
        )
    ).first()
    if child is not None:
        raise IntacctError(
            422,
            f"Customer {existing.id} is the parent of other customers and cannot be deleted",
            code=OPERATION_FAILED,
            error_id="REST-2011",
            message_id="IA.CANNOT_DELETE_PARENT",
            placeholders={"ID": existing.id},
        )
    connection.execute(sa.delete(customers).where(customers.c.key == key))
    cache.touch(connection, tenant_id)


def delete_company(connection: Connection, tenant_id: str | None) -> None:
    query = sa.delete(customers)
    if tenant_id is not None:
        query = query.where(customers.c.tenant_id == tenant_id)
    connection.execute(query)
    entities.delete_entities(connection, tenant_id)
    cache.forget(connection, tenant_id)
