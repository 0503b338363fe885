"""Secret key, end user, unknown routes, injected faults: Conductor's envelope every time."""

from __future__ import annotations

from asgi_client import TestClient
from providers.qbd.support import BASE, END_USER, Conductor, assert_error

CUSTOMERS = BASE + "/quickbooks-desktop/customers"


def test_missing_or_wrong_key_is_401(conductor: Conductor) -> None:
    bare = TestClient(conductor.client.app)
    missing = bare.get(CUSTOMERS, headers={"Conductor-End-User-Id": END_USER})
    assert_error(missing, 401, "AUTHENTICATION_ERROR", "API_KEY_MISSING")
    wrong = bare.get(
        CUSTOMERS,
        headers={"Authorization": "Bearer sk_test_nope1234567", "Conductor-End-User-Id": END_USER},
    )
    body = assert_error(wrong, 401, "AUTHENTICATION_ERROR", "API_KEY_INVALID")
    assert "sk_test_" in body["error"]["message"]
    assert "nope1234567" not in body["error"]["message"]  # the key is masked


def test_missing_or_unknown_end_user(conductor: Conductor) -> None:
    headers = {"Conductor-End-User-Id": ""}
    missing = conductor.client.get(CUSTOMERS, headers=headers)
    assert_error(missing, 400, "INVALID_REQUEST_ERROR", "MISSING_END_USER_ID")
    unknown = conductor.client.get(CUSTOMERS, headers={"Conductor-End-User-Id": "end_usr_nobody"})
    body = assert_error(unknown, 404, "INVALID_REQUEST_ERROR", "RESOURCE_MISSING")
    assert "end_usr_nobody" in body["error"]["message"]


def test_unknown_paths_and_methods_use_the_envelope(conductor: Conductor) -> None:
    assert_error(
        conductor.get("/quickbooks-desktop/vendorz"),
        404,
        "INVALID_REQUEST_ERROR",
        "RESOURCE_MISSING",
    )
    deleted = conductor.client.delete(CUSTOMERS)
    assert_error(deleted, 405, "INVALID_REQUEST_ERROR", "INVALID_REQUEST")


def test_desktop_offline_is_qbd_connection_error(conductor: Conductor) -> None:
    conductor.configure(error_rate=1.0)  # the default fault of a QuickBooks Desktop file
    response = conductor.get("/quickbooks-desktop/customers")
    body = assert_error(response, 502, "INTEGRATION_CONNECTION_ERROR", "QBD_CONNECTION_ERROR")
    assert "Web Connector" in body["error"]["userFacingMessage"]
    conductor.configure(error_rate=1.0, error_statuses=[500])
    assert_error(
        conductor.get("/quickbooks-desktop/customers"),
        500,
        "INTERNAL_ERROR",
        "INTERNAL_SERVER_ERROR",
    )
    conductor.configure(error_rate=0.0)
    assert conductor.get("/quickbooks-desktop/customers").status_code == 200


def test_rate_limit_answers_429_with_retry_after(conductor: Conductor) -> None:
    conductor.configure(requests_per_minute=2)
    assert conductor.get("/quickbooks-desktop/customers").status_code == 200
    assert conductor.get("/quickbooks-desktop/customers").status_code == 200
    third = conductor.get("/quickbooks-desktop/customers")
    assert_error(third, 429, "INVALID_REQUEST_ERROR", "TOO_MANY_REQUESTS")
    assert int(third.headers["retry-after"]) >= 1


def test_a_new_company_file_queues_requests_one_at_a_time(conductor: Conductor) -> None:
    settings = conductor.client.get(f"{BASE}/_admin/tenants/{END_USER}").json()["settings"]
    assert settings["queue_when_busy"] is True
    assert settings["error_statuses"] == [502]
    assert settings["extra"]["cursor_lifetime_s"] == 10
