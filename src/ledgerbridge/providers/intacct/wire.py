"""Sage Intacct's REST wire format for customers: the field catalogue, the error envelope
and the error codes, shared by the sandbox and the mapper.

Every customer field the sandbox stores, returns, accepts and queries is declared once in
`FIELDS`, by its dotted API name (`contacts.default.email1`), so the store, the object
builder and the query service cannot drift apart.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

API_PREFIX = "/ia/api/v1"
OBJECT_NAME = "accounts-receivable/customer"
OBJECT_PATH = f"/objects/{OBJECT_NAME}"
MAX_QUERY_SIZE = 4000
DEFAULT_PAGE_SIZE = 100
STATUSES = ("active", "activeNonPosting", "inactive")

FieldKind = Literal[
    "key",  # system key: an integer stored, a numeric string on the wire
    "string",
    "boolean",
    "integer",
    "number",
    "money",  # exact: integer cents stored; a JSON number on the wire
    "decimal",  # exact: integer cents stored; a decimal string on the wire (totalDue)
    "date",
    "datetime",
    "string_list",  # an array of strings (`$has` applies)
]


@dataclass(frozen=True)
class Field:
    """One customer field. `column` is its column in the sandbox table; `writable` says
    whether create and PATCH accept it; `enum` restricts string values."""

    path: str
    kind: FieldKind
    writable: bool = True
    enum: tuple[str, ...] | None = None

    @property
    def column(self) -> str:
        return column_name(self.path)


def column_name(path: str) -> str:
    """The column of a dotted field: `mailingAddress.postCode` -> `mailing_address_post_code`."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path.replace(".", "_"))
    return snake.lower()


def _refs(*names: str) -> list[Field]:
    """`{key, id}` references to other objects (term, customerType...)."""
    return [Field(f"{name}.{part}", "string") for name in names for part in ("key", "id")]


_CONTACT_FIELDS = (
    "id",
    "lastName",
    "firstName",
    "middleName",
    "prefix",
    "printAs",
    "email1",
    "email2",
    "phone1",
    "phone2",
    "mobile",
    "pager",
    "fax",
    "URL1",
    "URL2",
    "companyName",
)
_ADDRESS_FIELDS = ("addressLine1", "addressLine2", "addressLine3", "city", "state", "postCode")

FIELDS: tuple[Field, ...] = (
    Field("key", "key", writable=False),
    Field("id", "string"),
    Field("name", "string"),
    Field("status", "string", enum=STATUSES),
    *_refs("customerType"),
    # parent.key is stored; parent.id and parent.name are read through a join.
    Field("parent.key", "key"),
    *_refs("salesRepresentative"),
    Field("taxId", "string"),
    *_refs("defaultRevenueGLAccount", "shippingMethod"),
    Field("creditLimit", "money"),
    Field("isOnHold", "boolean"),
    *[Field(f"contacts.default.{name}", "string") for name in _CONTACT_FIELDS],
    *[Field(f"contacts.default.mailingAddress.{name}", "string") for name in _ADDRESS_FIELDS],
    Field("contacts.default.mailingAddress.country", "string"),
    Field("contacts.default.tax.isTaxable", "boolean"),
    *_refs("contacts.primary", "contacts.billTo", "contacts.shipTo"),
    Field("discountPercent", "string"),
    *_refs("term"),
    Field("advanceBillBy", "string"),
    Field("advanceBillByType", "string", enum=("", "days", "months")),
    Field("totalDue", "decimal", writable=False),
    Field("lastInvoiceCreatedDate", "date", writable=False),
    Field("lastStatementGeneratedDate", "date", writable=False),
    Field("resaleNumber", "integer"),
    Field("deliveryOptions", "string", enum=("print", "email", "both")),
    Field("overridePriceList", "string", enum=("customer", "billingContact", "shippingContact")),
    Field("customerMessageId", "string"),
    Field("currency", "string"),
    Field("emailOptIn", "boolean"),
    *_refs("territory"),
    Field("enableOnlineACHPayment", "boolean"),
    Field("enableOnlineCardPayment", "boolean"),
    Field("isOneTimeUse", "boolean"),
    *_refs("accountGroup", "accountLabel", "attachment"),
    Field("retainagePercentage", "number"),
    Field("notes", "string"),
    *_refs("priceList", "priceSchedule", "overrideOffsetGLAccount"),
    Field("customerRestriction", "string", enum=("unrestricted", "rootOnly", "restricted")),
    Field("restrictedLocations", "string_list"),
    Field("restrictedDepartments", "string_list"),
    Field("audit.createdDateTime", "datetime", writable=False),
    Field("audit.modifiedDateTime", "datetime", writable=False),
    Field("audit.createdBy", "string", writable=False),
    Field("audit.modifiedBy", "string", writable=False),
)
FIELDS_BY_PATH: dict[str, Field] = {field.path: field for field in FIELDS}


def href(key: int | str) -> str:
    return f"{OBJECT_PATH}/{key}"


# Error codes and ids. Sage documents the envelope, not the full catalogue: the ids the
# spec shows (REST-1028, REST-1043, REST-1064) are used where they fit, the rest follow
# the same pattern and are stable within the sandbox.
INVALID_REQUEST = "invalidRequest"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
NOT_FOUND = "notFound"
CONFLICT = "conflict"
OPERATION_FAILED = "operationFailed"
TOO_MANY_REQUESTS = "tooManyRequests"


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of `ia::error.details`: what is wrong with which part of the request."""

    message: str
    target: str
    error_id: str = "REST-1043"
    message_id: str = "IA.NOT_A_VALID_FIELD"
    code: str = INVALID_REQUEST

    def to_wire(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "errorId": self.error_id,
            "target": self.target,
            "additionalInfo": {"messageId": self.message_id, "placeholders": {}, "propertySet": {}},
        }


class IntacctError(Exception):
    """A request the API refuses, rendered as Intacct's error envelope with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = INVALID_REQUEST,
        error_id: str = "REST-1064",
        message_id: str = "IA.PAYLOAD_CONTAINS_ERRORS",
        details: list[ErrorDetail] | None = None,
        placeholders: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_id = error_id
        self.message_id = message_id
        self.details = details or []
        self.placeholders = placeholders or {}

    def to_wire(self) -> dict[str, Any]:
        """The body: `{"ia::result": {"ia::error": {...}}, "ia::meta": {...}}`."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errorId": self.error_id,
            "additionalInfo": {
                "messageId": self.message_id,
                "placeholders": self.placeholders,
                "propertySet": {},
            },
            "supportId": _support_id(),
        }
        if self.details:
            error["details"] = [detail.to_wire() for detail in self.details]
        return {
            "ia::result": {"ia::error": error},
            "ia::meta": {"totalCount": 1, "totalSuccess": 0, "totalError": 1},
        }


def bad_request(
    message: str, target: str | None = None, *, error_id: str = "REST-1064"
) -> IntacctError:
    """A 400 for a malformed request, with one detail pointing at `target` when given."""
    details = [ErrorDetail(message=message, target=target)] if target is not None else None
    return IntacctError(400, message, error_id=error_id, details=details)


def _support_id() -> str:
    # Real support ids are opaque tokens a customer quotes to Sage support.
    return secrets.token_urlsafe(24)
