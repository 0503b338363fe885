from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_is_open_and_unknown_paths_use_the_envelope(client: TestClient) -> None:
    assert client.get("/health", headers={"Authorization": ""}).json()["status"] == "ok"
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
