"""Helpers of the Intacct tests: a seeded sandbox company and a client holding its token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from asgi_client import TestClient
from ledgerbridge.providers.intacct.sandbox import MOUNT_PATH, provider
from ledgerbridge.sandbox.base import SandboxContext

# A copy of shared/reference/data/intacct-customer-openapi.json (Sage's published documents,
# cut to the customer object).
SPEC_PATH = Path(__file__).parent / "data" / "intacct-customer-openapi.json"
CUSTOMERS = "/objects/accounts-receivable/customer"
QUERY = "/services/core/query"


@dataclass
class Company:
    """A sandbox company and a client calling its API with a live token."""

    tenant_id: str
    credentials: dict[str, str]
    http: TestClient
    context: SandboxContext

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['access_token']}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(MOUNT_PATH + path, headers=self._headers(), **kwargs)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(MOUNT_PATH + path, json=body, headers=self._headers())

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.http.patch(MOUNT_PATH + path, json=body, headers=self._headers())

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(MOUNT_PATH + path, headers=self._headers())

    def query(self, **body: Any) -> httpx.Response:
        return self.post(QUERY, {"object": "accounts-receivable/customer", **body})


def make_company(app: FastAPI, http: TestClient, tenant_id: str, customers: int) -> Company:
    context: SandboxContext = app.state.sandbox
    provider.seed(context, tenant_id, customers, seed=7)
    return Company(tenant_id, provider.credentials(context, tenant_id), http, context)
