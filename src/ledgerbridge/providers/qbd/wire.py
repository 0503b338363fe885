"""Conductor's QuickBooks Desktop wire format: object shapes, field order, formats, and the
error envelope with its types and codes.

Shared by the sandbox (which speaks it) and, later, the connector (which reads it).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import orjson

OPENAPI_FILE = "conductor-customer-openapi.json"
"""Conductor's published OpenAPI document cut to customers (copied from its public repo)."""

LIST_URL = "/v1/quickbooks-desktop/customers"
DELETED_LIST_URL = "/v1/quickbooks-desktop/deleted-list-objects"

# The 56 fields of `qbd_customer`, in the order Conductor prints them.
CUSTOMER_FIELDS: tuple[str, ...] = (
    "id", "objectType", "createdAt", "updatedAt", "revisionNumber", "name", "fullName",
    "isActive", "class", "parent", "sublevel", "companyName", "salutation", "firstName",
    "middleName", "lastName", "jobTitle", "billingAddress", "shippingAddress",
    "alternateShippingAddresses", "phone", "alternatePhone", "fax", "email", "ccEmail",
    "contact", "alternateContact", "customContactFields", "additionalContacts",
    "customerType", "terms", "salesRepresentative", "balance", "totalBalance",
    "salesTaxCode", "salesTaxItem", "salesTaxCountry", "resaleNumber", "accountNumber",
    "creditLimit", "preferredPaymentMethod", "creditCard", "jobStatus", "jobStartDate",
    "jobProjectedEndDate", "jobEndDate", "jobDescription", "jobType", "note",
    "additionalNotes", "preferredDeliveryMethod", "priceLevel", "externalId",
    "taxRegistrationNumber", "currency", "customFields",
)  # fmt: skip

ADDRESS_FIELDS = (
    "line1", "line2", "line3", "line4", "line5", "city", "state", "postalCode", "country", "note",
)  # fmt: skip
SHIPPING_ADDRESS_FIELDS = ("name", *ADDRESS_FIELDS, "isDefaultShippingAddress")
CREDIT_CARD_FIELDS = (
    "number",
    "expirationMonth",
    "expirationYear",
    "name",
    "address",
    "postalCode",
)

# Body `*Id` fields and the response reference each one fills.
REFERENCE_FIELDS: dict[str, str] = {
    "classId": "class",
    "customerTypeId": "customerType",
    "termsId": "terms",
    "salesRepresentativeId": "salesRepresentative",
    "salesTaxCodeId": "salesTaxCode",
    "salesTaxItemId": "salesTaxItem",
    "preferredPaymentMethodId": "preferredPaymentMethod",
    "jobTypeId": "jobType",
    "priceLevelId": "priceLevel",
    "currencyId": "currency",
}

JOB_STATUSES = ("awarded", "closed", "in_progress", "none", "not_awarded", "pending")
DELIVERY_METHODS = ("email", "mail", "none")
NAME_MAX = 41
MAX_SUBLEVEL = 5
"""QuickBooks Desktop nests jobs at most five levels below a customer."""
PAGE_LIMIT_MAX = 150


# Error types (Conductor's `type` enum).
INTEGRATION_ERROR = "INTEGRATION_ERROR"
INTEGRATION_CONNECTION_ERROR = "INTEGRATION_CONNECTION_ERROR"
INVALID_REQUEST_ERROR = "INVALID_REQUEST_ERROR"
AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"


class ConductorError(Exception):
    """An error answered in Conductor's envelope. `integration_code` carries QuickBooks
    Desktop's own status code (3100, 3200, ...) when the desktop refused the request."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        *,
        user_facing_message: str | None = None,
        integration_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.message = message
        self.user_facing_message = user_facing_message or message
        self.integration_code = integration_code
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        """The `{"error": {...}}` body Conductor answers with."""
        error: dict[str, Any] = {
            "message": self.message,
            "userFacingMessage": self.user_facing_message,
            "type": self.type,
            "code": self.code,
            "httpStatusCode": self.status,
            "requestId": request_id,
        }
        if self.integration_code is not None:
            error["integrationCode"] = self.integration_code
        return {"error": error}


def invalid_request(message: str, code: str = "INVALID_REQUEST") -> ConductorError:
    """A malformed request (bad parameter or body): 400, nothing was sent to the desktop."""
    return ConductorError(400, INVALID_REQUEST_ERROR, code, message)


def resource_missing(message: str) -> ConductorError:
    return ConductorError(404, INVALID_REQUEST_ERROR, "RESOURCE_MISSING", message)


def qbd_request_error(integration_code: str, message: str) -> ConductorError:
    """QuickBooks Desktop refused the request; its status code passes through.

    Conductor documents neither the HTTP status of these nor whether it retries them; 400
    is the reading that keeps SDKs from retrying a request that cannot succeed."""
    return ConductorError(
        400, INTEGRATION_ERROR, "QBD_REQUEST_ERROR", message, integration_code=integration_code
    )


def duplicate_name(full_name: str) -> ConductorError:
    return qbd_request_error(
        "3100", f'The name "{full_name}" of the list element is already in use.'
    )


def stale_revision(revision_number: str) -> ConductorError:
    return qbd_request_error(
        "3200", f'The provided edit sequence "{revision_number}" is out-of-date.'
    )


def invalid_reference(kind: str, value: str) -> ConductorError:
    return qbd_request_error(
        "3140", f'There is an invalid reference to QuickBooks {kind} "{value}" in the Customer.'
    )


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def list_id(counter: int, created_at: datetime) -> str:
    """A QuickBooks Desktop list id: a hex serial, a dash, the creation time in epoch s."""
    return f"{0x80000000 + counter:X}-{int(created_at.timestamp())}"


def money(amount: Decimal) -> str:
    """A decimal string with two places, as Conductor prints amounts (`"1000.00"`)."""
    return str(amount.quantize(Decimal("0.01")))


def parse_offset(utc_offset: str) -> timezone:
    """`-07:00` → a fixed timezone (the company computer's clock)."""
    sign = -1 if utc_offset.startswith("-") else 1
    hours, minutes = utc_offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def local_time(moment: datetime, zone: timezone) -> str:
    """`2021-10-01T10:34:56-07:00`: QuickBooks Desktop prints times on the company's clock."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from Conductor's ISO 8601 text (offset or `Z`)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"a time without an offset: {text!r}")
    return moment.astimezone(UTC)


@cache
def openapi() -> dict[str, Any]:
    """Conductor's OpenAPI document (the request schemas the sandbox enforces)."""
    data = resources.files(__package__).joinpath(OPENAPI_FILE).read_bytes()
    document: dict[str, Any] = orjson.loads(data)
    return document
