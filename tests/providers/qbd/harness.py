"""QuickBooks Desktop through Conductor for the connector contract suite: a sandbox end
user's company file, changed through Conductor's API as another Conductor client would,
and deleted outright through the sandbox's admin API (as a user can in the desktop app;
Conductor itself has no delete)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ledgerbridge.providers.base import Connector
from ledgerbridge.providers.registry import get_platform
from providers.contract.harness import Listed, SandboxHarness

CUSTOMERS = "/quickbooks-desktop/customers"


class QbdHarness(SandboxHarness):
    provider = "qbd"
    tenant = "end_usr_contract"
    # Conductor lists in QuickBooks' own order with cursors that live 10 s, so a killed
    # pass reads its window again (see the QbdConnector docstring).
    resumes_mid_pass = False

    @cached_property
    def _headers(self) -> dict[str, str]:
        issued = get_platform(self.provider).sandbox.credentials(self.sandbox, self.tenant)
        return {
            "Authorization": f"Bearer {issued['CONDUCTOR_SECRET_KEY']}",
            "Conductor-End-User-Id": self.tenant,
        }

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, headers=self._headers, **kwargs)

    def _edit(self, customer_id: str, **changes: Any) -> None:
        current = self._api("GET", f"{CUSTOMERS}/{customer_id}")
        body = {"revisionNumber": current["revisionNumber"], **changes}
        self._api("POST", f"{CUSTOMERS}/{customer_id}", json=body)

    def listing(self) -> dict[str, Listed]:
        found: dict[str, Listed] = {}
        params: dict[str, Any] = {"status": "all", "limit": 150}
        while True:
            page = self._api("GET", CUSTOMERS, params=params)
            for customer in page["data"]:
                found[customer["id"]] = Listed(customer["name"], customer["isActive"])
            if page["nextCursor"] is None:
                return found
            params = {**params, "cursor": page["nextCursor"]}

    def create(self, name: str) -> str:
        customer_id: str = self._api("POST", CUSTOMERS, json={"name": name})["id"]
        return customer_id

    def rename(self, customer_id: str, name: str) -> None:
        self._edit(customer_id, name=name)

    def set_active(self, customer_id: str, active: bool) -> None:
        self._edit(customer_id, isActive=active)

    def delete(self, customer_id: str) -> None:
        self._call("DELETE", f"/_admin/tenants/{self.tenant}/customers/{customer_id}")

    async def write_new(self, connector: Connector, name: str) -> str:
        native = await connector.create({"display_name": name})
        return get_platform(self.provider).map_customer(native).external_id

    async def write_refused(self, connector: Connector, taken: str) -> None:
        # QuickBooks error 3100: the name of a list element is already in use (any case).
        await connector.create({"display_name": taken.lower()})

    async def write_stale(self, connector: Connector, customer_id: str) -> None:
        read = await connector.get(customer_id)
        self.rename(customer_id, "Renamed Meanwhile")
        await connector.update(customer_id, {"notes": "stale"}, read)  # 3200 stale revision

    async def write_missing(self, connector: Connector) -> None:
        await connector.update("80009999-1700000000", {"notes": "nobody"}, None)
