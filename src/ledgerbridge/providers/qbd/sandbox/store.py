"""The company files' customers: create, update, delete outright, and print as Conductor.

Every function runs inside the caller's transaction; the app serialises requests per
company file (QuickBooks Desktop is single-threaded), so read-check-write is safe.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledgerbridge.providers.qbd import wire
from ledgerbridge.providers.qbd.sandbox import rules
from ledgerbridge.providers.qbd.sandbox.catalog import HOME_CURRENCY_ID, reference
from ledgerbridge.providers.qbd.sandbox.tables import customers, deleted_customers, secret_keys

# Fields printed from the row's own columns rather than from its stored body.
_COMPUTED = frozenset(
    [
        "id",
        "objectType",
        "createdAt",
        "updatedAt",
        "revisionNumber",
        "name",
        "fullName",
        "isActive",
        "parent",
        "sublevel",
        "balance",
        "totalBalance",
    ]
)
_LISTS = ("customContactFields", "additionalContacts", "additionalNotes", "customFields")


def secret_key(connection: Connection, now: datetime) -> str:
    """The sandbox's secret key, made on first use and kept (it survives restarts)."""
    found = connection.execute(
        sa.select(secret_keys.c.secret_key).where(secret_keys.c.name == "default")
    ).scalar_one_or_none()
    if found is not None:
        return str(found)
    key = "sk_test_" + secrets.token_hex(16)
    connection.execute(
        sa.insert(secret_keys).values(name="default", secret_key=key, created_at=now)
    )
    return key


def empty_body() -> dict[str, Any]:
    """The stored fields of a customer with nothing entered: nulls and empty lists."""
    body: dict[str, Any] = {field: None for field in wire.CUSTOMER_FIELDS if field not in _COMPUTED}
    body.update({field: [] for field in (*_LISTS, "alternateShippingAddresses")})
    return body


def next_revision(previous: str | None, now: datetime) -> str:
    """QuickBooks' edit sequence is the edit time in epoch seconds; two edits in the same
    second still get different numbers."""
    stamp = int(now.timestamp())
    return str(stamp if previous is None else max(stamp, int(previous) + 1))


def next_counter(connection: Connection, end_user_id: str) -> int:
    found = connection.execute(
        sa.select(sa.func.max(customers.c.counter)).where(customers.c.end_user_id == end_user_id)
    ).scalar()
    return int(found or 0) + 1


def get(connection: Connection, end_user_id: str, customer_id: str) -> Row[Any] | None:
    return connection.execute(
        sa.select(customers).where(
            customers.c.end_user_id == end_user_id, customers.c.id == customer_id
        )
    ).first()


def require(connection: Connection, end_user_id: str, customer_id: str) -> Row[Any]:
    """The customer, or Conductor's RESOURCE_MISSING."""
    row = get(connection, end_user_id, customer_id)
    if row is None:
        raise wire.resource_missing(f'No customer with id "{customer_id}" was found.')
    return row


def fetch(connection: Connection, end_user_id: str, ids: list[str]) -> list[Row[Any]]:
    """The customers of `ids` in that order, skipping any deleted meanwhile."""
    rows: dict[str, Row[Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in connection.execute(
            sa.select(customers).where(
                customers.c.end_user_id == end_user_id, customers.c.id.in_(chunk)
            )
        ):
            rows[row.id] = row
    return [rows[customer_id] for customer_id in ids if customer_id in rows]


def _check_unique(
    connection: Connection, end_user_id: str, full_name: str, except_id: str | None = None
) -> None:
    query = sa.select(customers.c.id).where(
        customers.c.end_user_id == end_user_id, customers.c.sort_key == full_name.lower()
    )
    if except_id is not None:
        query = query.where(customers.c.id != except_id)
    if connection.execute(query).first() is not None:
        raise wire.duplicate_name(full_name)


def _parent(connection: Connection, end_user_id: str, parent_id: str) -> Row[Any]:
    parent = get(connection, end_user_id, parent_id)
    if parent is None:
        raise wire.invalid_reference("Customer", parent_id)
    if parent.sublevel + 1 > wire.MAX_SUBLEVEL:
        raise wire.qbd_request_error(
            "3180", f"A job cannot be nested more than {wire.MAX_SUBLEVEL} levels deep."
        )
    return parent


def _contact(item: Mapping[str, Any], contact_id: str, now: datetime) -> dict[str, Any]:
    names = (item.get("firstName"), item.get("middleName"), item.get("lastName"))
    stamp = wire.local_time(now, UTC)
    return {
        "id": contact_id,
        "objectType": "qbd_contact",
        "createdAt": stamp,
        "updatedAt": stamp,
        "revisionNumber": next_revision(None, now),
        "name": " ".join(part for part in names if part),
        "salutation": item.get("salutation"),
        "firstName": item["firstName"],
        "middleName": item.get("middleName"),
        "lastName": item.get("lastName"),
        "jobTitle": item.get("jobTitle"),
        "customContactFields": item.get("customContactFields", []),
    }


def _merge_contacts(
    existing: list[dict[str, Any]], items: list[dict[str, Any]], counter: int, now: datetime
) -> list[dict[str, Any]]:
    # A contact with an id is modified (its revision must be current); one without is added.
    contacts = {contact["id"]: contact for contact in existing}
    for index, item in enumerate(items):
        if "id" not in item:
            new_id = wire.list_id(0x10000000 + counter * 64 + len(contacts) + index, now)
            contacts[new_id] = _contact(item, new_id, now)
            continue
        current = contacts.get(item["id"])
        if current is None:
            raise wire.invalid_reference("Contact", item["id"])
        if item.get("revisionNumber") != current["revisionNumber"]:
            raise wire.stale_revision(str(item.get("revisionNumber")))
        merged = {**current, **{k: v for k, v in item.items() if k != "revisionNumber"}}
        updated = _contact(merged, current["id"], now)
        updated["createdAt"] = current["createdAt"]
        updated["revisionNumber"] = next_revision(current["revisionNumber"], now)
        contacts[current["id"]] = updated
    return list(contacts.values())


def _merge_notes(
    existing: list[dict[str, Any]], items: list[dict[str, Any]], today: str
) -> list[dict[str, Any]]:
    notes = {note["id"]: note for note in existing}
    next_id = max(notes, default=0) + 1
    for item in items:
        note_id = item.get("id", next_id)
        notes[note_id] = {"id": note_id, "date": today, "note": item["note"]}
        next_id = max(next_id, int(note_id) + 1)
    return list(notes.values())


def create(
    connection: Connection, end_user_id: str, body: Mapping[str, Any], now: datetime, zone: timezone
) -> Row[Any]:
    """Add a customer (or a job, with `parentId`) from a validated create body."""
    now = now.replace(microsecond=0)
    name = body["name"]
    rules.check_name(name)
    fields = rules.native_fields(body)
    parent = _parent(connection, end_user_id, body["parentId"]) if "parentId" in body else None
    full_name = name if parent is None else f"{parent.full_name}:{name}"
    _check_unique(connection, end_user_id, full_name)
    counter = next_counter(connection, end_user_id)
    stored = empty_body() | fields
    if "currency" not in fields:
        # A job keeps its parent's currency; a customer gets the home currency.
        currency_id = parent.currency_id if parent is not None else HOME_CURRENCY_ID
        stored["currency"] = reference("currencyId", currency_id) if currency_id else None
    stored["additionalContacts"] = _merge_contacts(
        [], body.get("additionalContacts", []), counter, now
    )
    today = now.astimezone(zone).date().isoformat()
    stored["additionalNotes"] = _merge_notes([], body.get("additionalNotes", []), today)
    balance = rules.amount(body, "openingBalance") or Decimal(0)
    customer_id = wire.list_id(counter, now)
    connection.execute(
        sa.insert(customers).values(
            end_user_id=end_user_id,
            id=customer_id,
            counter=counter,
            name=name,
            full_name=full_name,
            sort_key=full_name.lower(),
            parent_id=None if parent is None else parent.id,
            sublevel=0 if parent is None else parent.sublevel + 1,
            is_active=body.get("isActive", True),
            balance=balance,
            total_balance=balance,
            currency_id=(stored["currency"] or {}).get("id"),
            class_id=(stored["class"] or {}).get("id"),
            revision_number=next_revision(None, now),
            created_at=now,
            updated_at=now,
            body=stored,
        )
    )
    if parent is not None:
        refresh_totals(connection, end_user_id, parent.id)
    return require(connection, end_user_id, customer_id)


def update(
    connection: Connection,
    end_user_id: str,
    customer_id: str,
    body: Mapping[str, Any],
    now: datetime,
    zone: timezone,
) -> Row[Any]:
    """Modify a customer from a validated update body whose `revisionNumber` is current."""
    now = now.replace(microsecond=0)
    row = require(connection, end_user_id, customer_id)
    if body["revisionNumber"] != row.revision_number:
        raise wire.stale_revision(body["revisionNumber"])
    name = body.get("name", row.name)
    rules.check_name(name)
    fields = rules.native_fields(body)
    parent_id = body.get("parentId", row.parent_id)
    parent = None
    if parent_id is not None:
        if parent_id == row.id or parent_id in _descendants(connection, end_user_id, row.id):
            raise wire.qbd_request_error("3180", "A customer cannot be its own job.")
        parent = _parent(connection, end_user_id, parent_id)
    full_name = name if parent is None else f"{parent.full_name}:{name}"
    _check_unique(connection, end_user_id, full_name, except_id=row.id)
    stored = dict(row.body) | fields
    counter = int(row.counter)
    if "additionalContacts" in body:
        stored["additionalContacts"] = _merge_contacts(
            row.body["additionalContacts"], body["additionalContacts"], counter, now
        )
    if "additionalNotes" in body:
        today = now.astimezone(zone).date().isoformat()
        stored["additionalNotes"] = _merge_notes(
            row.body["additionalNotes"], body["additionalNotes"], today
        )
    sublevel = 0 if parent is None else parent.sublevel + 1
    connection.execute(
        sa.update(customers)
        .where(customers.c.end_user_id == end_user_id, customers.c.id == row.id)
        .values(
            name=name,
            full_name=full_name,
            sort_key=full_name.lower(),
            parent_id=parent_id,
            sublevel=sublevel,
            is_active=body.get("isActive", row.is_active),
            currency_id=(stored["currency"] or {}).get("id"),
            class_id=(stored["class"] or {}).get("id"),
            revision_number=next_revision(row.revision_number, now),
            updated_at=now,
            body=stored,
        )
    )
    if full_name != row.full_name:
        _rename_descendants(connection, end_user_id, row.id, full_name, sublevel)
    if parent_id != row.parent_id:
        for start in (row.parent_id, parent_id):
            if start is not None:
                refresh_totals(connection, end_user_id, start)
    return require(connection, end_user_id, customer_id)


def _children(connection: Connection, end_user_id: str, parent_id: str) -> list[Row[Any]]:
    return list(
        connection.execute(
            sa.select(customers.c.id, customers.c.name).where(
                customers.c.end_user_id == end_user_id, customers.c.parent_id == parent_id
            )
        )
    )


def _descendants(connection: Connection, end_user_id: str, customer_id: str) -> set[str]:
    found: set[str] = set()
    pending = [customer_id]
    while pending:
        for child in _children(connection, end_user_id, pending.pop()):
            found.add(child.id)
            pending.append(child.id)
    return found


def _rename_descendants(
    connection: Connection, end_user_id: str, parent_id: str, full_name: str, sublevel: int
) -> None:
    # A job's fullName follows its parent's name (QuickBooks keeps the hierarchy in it:
    # docs.conductor.is/qbd-examples/jobs-and-customers). Its updatedAt and revisionNumber
    # stay as they were: the job itself was not modified (the SDK's EditSequence changes
    # "every time the object is changed", and QuickBooks keeps the parent as a reference),
    # and nothing Intuit or Conductor publishes says a parent's rename touches its jobs. Of
    # the two readings this is the one a sync must survive (providers/qbd/connector.py).
    for child in _children(connection, end_user_id, parent_id):
        child_name = f"{full_name}:{child.name}"
        connection.execute(
            sa.update(customers)
            .where(customers.c.end_user_id == end_user_id, customers.c.id == child.id)
            .values(full_name=child_name, sort_key=child_name.lower(), sublevel=sublevel + 1)
        )
        _rename_descendants(connection, end_user_id, child.id, child_name, sublevel + 1)


def refresh_totals(connection: Connection, end_user_id: str, start_id: str) -> None:
    """Recompute `totalBalance` (own balance plus every job's) from `start_id` up to the
    top-level customer."""
    current: str | None = start_id
    while current is not None:
        children_total = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(customers.c.total_balance), 0)).where(
                customers.c.end_user_id == end_user_id, customers.c.parent_id == current
            )
        ).scalar_one()
        row = require(connection, end_user_id, current)
        connection.execute(
            sa.update(customers)
            .where(customers.c.end_user_id == end_user_id, customers.c.id == current)
            .values(total_balance=Decimal(row.balance) + Decimal(children_total))
        )
        current = row.parent_id


def delete(connection: Connection, end_user_id: str, customer_id: str, now: datetime) -> None:
    """Delete a customer outright, as a QuickBooks Desktop user can in the desktop app. Like
    QuickBooks, refuse one that still has jobs."""
    row = require(connection, end_user_id, customer_id)
    if _children(connection, end_user_id, customer_id):
        raise wire.qbd_request_error(
            "3170", f'The customer "{row.full_name}" has jobs and cannot be deleted.'
        )
    connection.execute(
        sa.delete(customers).where(
            customers.c.end_user_id == end_user_id, customers.c.id == customer_id
        )
    )
    connection.execute(
        sa.insert(deleted_customers).values(
            end_user_id=end_user_id,
            id=row.id,
            full_name=row.full_name,
            created_at=row.created_at,
            deleted_at=now,
        )
    )
    if row.parent_id is not None:
        refresh_totals(connection, end_user_id, row.parent_id)


def delete_tenant(connection: Connection, end_user_id: str | None) -> None:
    for table in (customers, deleted_customers):
        query = sa.delete(table)
        if end_user_id is not None:
            query = query.where(table.c.end_user_id == end_user_id)
        connection.execute(query)


def render(
    row: Row[Any], zone: timezone, exclude_alternate_shipping: bool = False
) -> dict[str, Any]:
    """The complete `qbd_customer` (56 fields, in Conductor's order) of a stored row."""
    body: Mapping[str, Any] = row.body
    computed: dict[str, Any] = {
        "id": row.id,
        "objectType": "qbd_customer",
        "createdAt": wire.local_time(row.created_at, zone),
        "updatedAt": wire.local_time(row.updated_at, zone),
        "revisionNumber": row.revision_number,
        "name": row.name,
        "fullName": row.full_name,
        "isActive": row.is_active,
        "parent": None
        if row.parent_id is None
        else {"id": row.parent_id, "fullName": row.full_name.rsplit(":", 1)[0]},
        "sublevel": row.sublevel,
        "balance": wire.money(Decimal(row.balance)),
        "totalBalance": wire.money(Decimal(row.total_balance)),
    }
    customer = {
        field: computed[field] if field in computed else body.get(field)
        for field in wire.CUSTOMER_FIELDS
    }
    customer["additionalContacts"] = [_local_contact(c, zone) for c in body["additionalContacts"]]
    if exclude_alternate_shipping:
        customer["alternateShippingAddresses"] = None
    return customer


def _local_contact(contact: Mapping[str, Any], zone: timezone) -> dict[str, Any]:
    return {
        **contact,
        "createdAt": wire.local_time(wire.parse_time(contact["createdAt"]), zone),
        "updatedAt": wire.local_time(wire.parse_time(contact["updatedAt"]), zone),
    }


def insert_many(connection: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Bulk insert of ready-made rows (the seeder's)."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 1000:
            connection.execute(sa.insert(customers), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(customers), batch)
