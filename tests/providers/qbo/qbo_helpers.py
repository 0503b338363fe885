"""Helpers to call a QuickBooks sandbox realm in-process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from asgi_client import TestClient

REALM = "9341457021722202"


@dataclass
class Realm:
    """A client bound to one realm: `post_customer`, `get`, `query` return httpx responses."""

    http: TestClient
    realm_id: str
    credentials: dict[str, str]

    @property
    def base(self) -> str:
        return f"/sandbox/qbo/v3/company/{self.realm_id}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['access_token']}"}

    def post_customer(self, body: Any, **params: str) -> httpx.Response:
        return self.http.post(
            f"{self.base}/customer",
            json=body,
            params={"minorversion": "75", **params},
            headers=self.headers(),
        )

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("BillAddr", {"Line1": "1 Main St", "City": "Tucson"})
        response = self.post_customer(body)
        assert response.status_code == 200, response.text
        customer: dict[str, Any] = response.json()["Customer"]
        return customer

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(f"{self.base}/{path}", params=params, headers=self.headers())

    def query(self, text: str) -> httpx.Response:
        return self.http.post(
            f"{self.base}/query",
            content=text,
            headers={**self.headers(), "Content-Type": "application/text"},
        )

    def configure(self, **changes: Any) -> None:
        response = self.http.patch(f"/sandbox/qbo/_admin/tenants/{self.realm_id}", json=changes)
        assert response.status_code == 200, response.text


def fault_code(response: httpx.Response) -> str:
    code: str = response.json()["Fault"]["Error"][0]["code"]
    return code


# A copy of shared/reference/data/qbo-customers-fixture.json (a recorded real response).
FIXTURE = Path(__file__).parent / "data" / "qbo-customers-fixture.json"


def recorded_customers() -> list[dict[str, Any]]:
    data = json.loads(FIXTURE.read_text())
    customers: list[dict[str, Any]] = []
    for endpoint in data["api"]["get"].values():
        customers.extend(endpoint["response"]["QueryResponse"].get("Customer", []))
    return customers
