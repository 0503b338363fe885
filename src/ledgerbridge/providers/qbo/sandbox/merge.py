"""Merging two customers, as a QuickBooks Online user does in the UI (the API has no
merge operation; the sandbox offers it as an admin action).

What QuickBooks does, from Intuit's help article "Merge duplicate customers in QuickBooks
Online" and its developer documentation:
- "Check that neither customer being merged has sub-customers before merging them": a
  merge of a customer with sub-customers is refused;
- "The merged customer is deleted from your records and their transactions added to the
  other profile's transaction history": the survivor keeps its Id and takes the other's
  balance (its parents' BalanceWithJobs move with it); the other is gone: a read answers
  610 Object Not Found and queries no longer return it;
- change data capture reports the merged-away customer as a deleted entity, "returned
  after active objects": `{"status": "Deleted", "domain": "QBO", "Id": "979", "MetaData":
  {"LastUpdatedTime": ...}}` (the ChangeDataCapture API reference's sample);
- the help article adds that, "like all deleted customers, the merged customer is saved as
  inactive" in the UI's inactive list; the API's own word for it is the CDC `Deleted` status,
  which is what the sandbox models (an inactive customer is a full object with
  `Active: false` in CDC, a merged one is not);
- webhooks report it as `qbo.customer.merged.v1` on the survivor with `data.deletedid`
  (Intuit's "Understanding the data object" page): the merge is a change of the survivor.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ledgerbridge.providers.qbo.sandbox import store
from ledgerbridge.providers.qbo.sandbox.notifications import Change, record_changes
from ledgerbridge.providers.qbo.sandbox.tables import customers, deleted_customers


class MergeRefused(Exception):
    """The merge cannot be made; `status` is the admin API's HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _customer(connection: Connection, realm_id: str, customer_id: int) -> RowMapping:
    row = store.get_customer(connection, realm_id, customer_id)
    if row is None:
        raise MergeRefused(404, f"no customer {customer_id} in realm {realm_id}")
    return row


def merge_customers(
    connection: Connection, realm_id: str, *, deleted_id: int, survivor_id: int, now: datetime
) -> RowMapping:
    """Merge customer `deleted_id` into `survivor_id` and return the survivor as stored."""
    if deleted_id == survivor_id:
        raise MergeRefused(400, "a customer cannot be merged into itself")
    merged = _customer(connection, realm_id, deleted_id)
    survivor = _customer(connection, realm_id, survivor_id)
    for row in (merged, survivor):
        if store.children(connection, realm_id, row["id"]):
            raise MergeRefused(
                400,
                f"customer {row['id']} has sub-customers; QuickBooks merges only customers "
                "without sub-customers (make them regular customers first)",
            )
    cents = int(merged["balance_cents"])
    connection.execute(
        sa.update(customers)
        .where(customers.c.realm_id == realm_id, customers.c.id == survivor_id)
        .values(
            balance_cents=customers.c.balance_cents + cents,
            balance_with_jobs_cents=customers.c.balance_with_jobs_cents + cents,
            sync_token=customers.c.sync_token + 1,
            last_updated_time=now,
        )
    )
    store.add_to_ancestors(connection, realm_id, merged["parent_id"], -cents)
    store.add_to_ancestors(connection, realm_id, survivor["parent_id"], cents)
    connection.execute(
        sa.delete(customers).where(customers.c.realm_id == realm_id, customers.c.id == deleted_id)
    )
    connection.execute(
        sa.insert(deleted_customers).values(realm_id=realm_id, id=deleted_id, deleted_time=now)
    )
    # Intuit announces a merge once, on the survivor, naming the deleted id.
    record_changes(connection, realm_id, [Change(survivor_id, "Merge", deleted_id)], now)
    merged_into = store.get_customer(connection, realm_id, survivor_id)
    assert merged_into is not None
    return merged_into


def deleted_since(
    connection: Connection, realm_id: str, since: datetime, limit: int
) -> list[RowMapping]:
    """Customers deleted after `since`, oldest first (for change data capture)."""
    return list(
        connection.execute(
            sa.select(deleted_customers)
            .where(
                deleted_customers.c.realm_id == realm_id, deleted_customers.c.deleted_time > since
            )
            .order_by(deleted_customers.c.deleted_time, deleted_customers.c.id)
            .limit(limit)
        ).mappings()
    )


def render_deleted(row: RowMapping, utc_offset: str) -> dict[str, object]:
    """A deleted customer as change data capture reports it."""
    return {
        "status": "Deleted",
        "domain": "QBO",
        "Id": str(row["id"]),
        "MetaData": {"LastUpdatedTime": store.format_time(row["deleted_time"], utc_offset)},
    }
