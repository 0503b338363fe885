"""QuickBooks Online for the connector contract suite: a sandbox realm, changed through
the Accounting API v3 as another QuickBooks client would change it."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ledgerbridge.providers.base import Connector
from ledgerbridge.providers.registry import get_platform
from providers.contract.harness import Listed, SandboxHarness

ADDRESS = {"Line1": "1 Main St", "City": "Tucson", "CountrySubDivisionCode": "AZ"}
UNIFIED_ADDRESS = {"line1": "1 Main St", "city": "Tucson", "state": "AZ"}
EVERY_CUSTOMER = "SELECT * FROM Customer WHERE Active IN (true, false)"
MAX_RESULTS = 1000


class QboHarness(SandboxHarness):
    provider = "qbo"
    tenant = "4620816365257778"

    @cached_property
    def _headers(self) -> dict[str, str]:
        token = get_platform(self.provider).sandbox.credentials(self.sandbox, self.tenant)[
            "access_token"
        ]
        return {"Authorization": f"Bearer {token}"}

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(
            method,
            f"/v3/company/{self.tenant}/{path}",
            headers=self._headers,
            params={"minorversion": "75", **kwargs.pop("params", {})},
            **kwargs,
        )

    def _sparse(self, customer_id: str, **fields: Any) -> None:
        current = self._api("GET", f"customer/{customer_id}")["Customer"]
        body = {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        self._api("POST", "customer", json=body)

    def listing(self) -> dict[str, Listed]:
        found: dict[str, Listed] = {}
        position = 1
        while True:
            query = f"{EVERY_CUSTOMER} STARTPOSITION {position} MAXRESULTS {MAX_RESULTS}"
            page = self._api("GET", "query", params={"query": query})["QueryResponse"]
            for customer in page.get("Customer", []):
                found[customer["Id"]] = Listed(customer["DisplayName"], customer["Active"])
            if len(page.get("Customer", [])) < MAX_RESULTS:
                return found
            position += MAX_RESULTS

    def create(self, name: str) -> str:
        body = {"DisplayName": name, "BillAddr": ADDRESS}
        customer_id: str = self._api("POST", "customer", json=body)["Customer"]["Id"]
        return customer_id

    def rename(self, customer_id: str, name: str) -> None:
        self._sparse(customer_id, DisplayName=name)

    def set_active(self, customer_id: str, active: bool) -> None:
        self._sparse(customer_id, Active=active)

    def delete(self, customer_id: str) -> None:
        # QuickBooks Online cannot delete a customer (`operation=delete` answers 500
        # Unsupported Operation); "delete" in its UI and SDKs is making it inactive, e.g.
        # quickbooks-ruby's `Service::Customer#delete` sets `active = false` and sends a
        # sparse update (shared/reference/qbo.md).
        self.set_active(customer_id, False)

    def remove(self, customer_id: str) -> None:
        survivor = self.create(f"Contract Survivor of {customer_id}")
        self._call(
            "POST",
            f"/_admin/tenants/{self.tenant}/customers/{customer_id}/merge",
            json={"into": int(survivor)},
        )

    async def write_new(self, connector: Connector, name: str) -> str:
        native = await connector.create({"display_name": name, "bill_address": UNIFIED_ADDRESS})
        return get_platform(self.provider).map_customer(native).external_id

    async def write_refused(self, connector: Connector, taken: str) -> None:
        # 6240 Duplicate Name Exists: display names are unique, whatever their case.
        await connector.create({"display_name": taken.upper(), "bill_address": UNIFIED_ADDRESS})

    async def write_stale(self, connector: Connector, customer_id: str) -> None:
        read = await connector.get(customer_id)
        self.rename(customer_id, "Renamed Meanwhile")
        await connector.update(customer_id, {"notes": "stale"}, read)  # 5010 stale SyncToken

    async def write_missing(self, connector: Connector) -> None:
        await connector.update("987654", {"notes": "nobody"}, None)
