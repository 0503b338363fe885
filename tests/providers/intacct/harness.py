"""Sage Intacct for the connector contract suite: a sandbox company, changed through its
REST API (object endpoints and the query service) as another Intacct client would."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from ledgerbridge.providers.base import Connector
from ledgerbridge.providers.registry import get_platform
from providers.contract.harness import Listed, SandboxHarness

CUSTOMERS = "/objects/accounts-receivable/customer"
QUERY = "/services/core/query"
QUERY_SIZE = 4000


class IntacctHarness(SandboxHarness):
    provider = "intacct"
    tenant = "CONTRACT"
    # Hard deletes are found only by the key reconciliation (every 10th incremental by
    # default): on every run here, so the next run finds a delete. A short lag keeps the
    # re-read window of an incremental small.
    settings: Mapping[str, Any] = {"lag_seconds": 5, "extra": {"reconcile_every": 1}}
    # Intacct's customer carries no revision to refuse a stale write with; a PATCH changes
    # only the fields it names (see IntacctConnector.update).
    stale_writes_conflict = False

    @cached_property
    def _headers(self) -> dict[str, str]:
        issued = get_platform(self.provider).sandbox.credentials(self.sandbox, self.tenant)
        return {"Authorization": f"Bearer {issued['access_token']}"}

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, headers=self._headers, **kwargs)

    def listing(self) -> dict[str, Listed]:
        found: dict[str, Listed] = {}
        start = 1
        while True:
            body = {
                "object": "accounts-receivable/customer",
                "fields": ["key", "name", "status"],
                "start": start,
                "size": QUERY_SIZE,
            }
            answer = self._api("POST", QUERY, json=body)
            for row in answer["ia::result"]:
                # `activeNonPosting` is active: it only takes no new transactions.
                found[row["key"]] = Listed(row["name"], row["status"] != "inactive")
            if answer["ia::meta"]["next"] is None:
                return found
            start = answer["ia::meta"]["next"]

    def create(self, name: str) -> str:
        key: str = self._api("POST", CUSTOMERS, json={"name": name})["ia::result"]["key"]
        return key

    def rename(self, customer_id: str, name: str) -> None:
        self._api("PATCH", f"{CUSTOMERS}/{customer_id}", json={"name": name})

    def set_active(self, customer_id: str, active: bool) -> None:
        status = "active" if active else "inactive"
        self._api("PATCH", f"{CUSTOMERS}/{customer_id}", json={"status": status})

    def delete(self, customer_id: str) -> None:
        self._api("DELETE", f"{CUSTOMERS}/{customer_id}")

    async def write_new(self, connector: Connector, name: str) -> str:
        native = await connector.create({"display_name": name})
        return get_platform(self.provider).map_customer(native).external_id

    async def write_refused(self, connector: Connector, taken: str) -> None:
        # Intacct's names need not be unique (its customer ID must); a customer without
        # the one required field is refused instead: 400 "/name is required".
        await connector.create({"notes": f"no name, not even {taken}"})

    async def write_stale(self, connector: Connector, customer_id: str) -> None:
        read = await connector.get(customer_id)
        self.rename(customer_id, "Renamed Meanwhile")
        await connector.update(customer_id, {"notes": "stale"}, read)

    async def write_missing(self, connector: Connector) -> None:
        await connector.update("987654", {"notes": "nobody"}, None)
