from __future__ import annotations

from asgi_client import TestClient


def test_health_is_open_and_unknown_paths_use_the_envelope(client: TestClient) -> None:
    assert client.get("/health", headers={"Authorization": ""}).json()["status"] == "ok"
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/customers", "/customers/{customer_id}", "/connections"} <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/customers"]["get"]["parameters"]}
    assert {"limit", "cursor", "modified_after", "filter", "ids", "Connection-Id"} <= parameters
    assert client.get("/docs").status_code == 200
