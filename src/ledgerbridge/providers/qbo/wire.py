"""QuickBooks Online's native shapes: fault envelopes and codes, and the Customer
properties with their types and maximum lengths (from the seed and Intuit's docs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FaultType = Literal["ValidationFault", "SystemFault", "AuthenticationFault", "SERVICE"]

# Codes Intuit documents (error-code list and "top errors" post); 6150's meaning comes from
# the issue, and "Delete List Has Balance Error" from users' reports (its code is not known,
# so it carries the generic business-validation code 6000).
UNSUPPORTED_OPERATION = "500"
OBJECT_NOT_FOUND = "610"
INVALID_PROPERTY = "2010"
REQUIRED_PARAM_MISSING = "2020"
STRING_LENGTH = "2050"
INVALID_EMAIL = "2210"
INVALID_REFERENCE = "2500"
QUERY_PARSE = "4000"
STALE_OBJECT = "5010"
BUSINESS_VALIDATION = "6000"
NO_NAME = "6080"
SUB_CUSTOMER_TO_TOP = "6150"
DUPLICATE_NAME = "6240"
THROTTLED = "3001"
AUTHORIZATION_FAILED = "3100"
UNSUPPORTED_MEDIA_TYPE = "415"
SYSTEM_FAILURE = "10000"


@dataclass
class QboFault(Exception):
    """One QuickBooks fault: rendered as `{"Fault": {"Error": [...], "type": ...}}`."""

    code: str
    message: str
    detail: str
    element: str = ""
    status: int = 400
    fault_type: FaultType = "ValidationFault"

    def __str__(self) -> str:
        return f"{self.code} {self.message}: {self.detail}"

    def fault(self) -> dict[str, Any]:
        """The `Fault` object (batch items carry it without the outer envelope)."""
        return {
            "Error": [
                {
                    "Message": self.message,
                    "Detail": self.detail,
                    "code": self.code,
                    "element": self.element,
                }
            ],
            "type": self.fault_type,
        }


def not_found(entity_id: str) -> QboFault:
    return QboFault(
        OBJECT_NOT_FOUND,
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive. Check the "
        f"fields with accounts, customers, items, vendors or employees. (Customer Id {entity_id})",
    )


def invalid_property(name: str, why: str) -> QboFault:
    return QboFault(
        INVALID_PROPERTY,
        "Request has invalid or unsupported property",
        f"Property Name:{name} specified is unsupported or invalid: {why}",
        element=name,
    )


def required_missing(name: str) -> QboFault:
    return QboFault(
        REQUIRED_PARAM_MISSING,
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def string_length(name: str, maximum: int, supplied: int) -> QboFault:
    return QboFault(
        STRING_LENGTH,
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} "
        f"supported. Supplied length:{supplied}",
        element=name,
    )


def business(detail: str, element: str = "") -> QboFault:
    return QboFault(
        BUSINESS_VALIDATION,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def query_error(detail: str) -> QboFault:
    return QboFault(QUERY_PARSE, "Error parsing query", f"QueryParserError: {detail}")


def unsupported(operation: str) -> QboFault:
    return QboFault(
        UNSUPPORTED_OPERATION,
        "Unsupported Operation",
        f"Operation {operation} is not supported.",
    )


def system_fault() -> QboFault:
    return QboFault(
        SYSTEM_FAILURE,
        "An application error has occurred while processing your request",
        "System Failure Error: an unexpected error occurred; the request may be retried",
        status=500,
        fault_type="SystemFault",
    )


def throttled() -> QboFault:
    """A 429 as a fault (the batch limit): the same code and text as `throttle_body`."""
    return QboFault(
        THROTTLED,
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        status=429,
        fault_type="SERVICE",
    )


def throttle_body() -> dict[str, Any]:
    """The 429 body QuickBooks sends (type `SERVICE`, code 3001)."""
    return {
        "Fault": {
            "Error": [
                {
                    "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    "Detail": "The request limit was reached.  Try again later",
                    "code": THROTTLED,
                }
            ],
            "type": "SERVICE",
        }
    }


THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3">'
    '<Fault type="SERVICE"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "<Detail>The request limit was reached.  Try again later</Detail>"
    "</Error></Fault></IntuitResponse>"
)


def unauthorized_body(detail: str) -> dict[str, Any]:
    """QuickBooks' 401 body: a different, lowercase shape (as recorded by client authors)."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": None,
        "status": None,
        "cdcresponse": [],
    }


def forbidden_body() -> dict[str, Any]:
    """QuickBooks' 403 for a realm the token does not belong to (as recorded by users:
    frappe/erpnext#29161, minimul/qbo_api#138): the lowercase shape, code 3100."""
    body = unauthorized_body("")
    body["fault"] = {
        "error": [
            {
                "message": "message=ApplicationAuthorizationFailed; errorCode=003100; "
                "statusCode=403",
                "detail": None,
                "code": AUTHORIZATION_FAILED,
                "element": None,
            }
        ],
        "type": "SERVICE",
    }
    return body


Kind = Literal["str", "bool", "decimal", "date", "ref", "phone", "email", "web", "addr", "any"]

# Writable Customer properties: kind and, for strings, the maximum length. Lengths are the
# seed's where it gives one (GivenName 25, MiddleName/FamilyName/Suffix/Title 15, a name in
# FullyQualifiedName 41, Notes 1024, AcctNum 99); the others are Intuit's documented ones.
WRITABLE: dict[str, tuple[Kind, int]] = {
    "Title": ("str", 15),
    "GivenName": ("str", 25),
    "MiddleName": ("str", 15),
    "FamilyName": ("str", 15),
    "Suffix": ("str", 15),
    "CompanyName": ("str", 100),
    "DisplayName": ("str", 41),
    "PrintOnCheckName": ("str", 110),
    "Active": ("bool", 0),
    "PrimaryPhone": ("phone", 30),
    "AlternatePhone": ("phone", 30),
    "Mobile": ("phone", 30),
    "Fax": ("phone", 30),
    "PrimaryEmailAddr": ("email", 100),
    "WebAddr": ("web", 1000),
    "DefaultTaxCodeRef": ("ref", 0),
    "Taxable": ("bool", 0),
    "BillAddr": ("addr", 0),
    "ShipAddr": ("addr", 0),
    "OtherAddr": ("addr", 0),
    "ContactName": ("str", 100),
    "AltContactName": ("str", 100),
    "Notes": ("str", 1024),
    "Job": ("bool", 0),
    "BillWithParent": ("bool", 0),
    "ParentRef": ("ref", 0),
    "CustomerTypeRef": ("ref", 0),
    "SalesTermRef": ("ref", 0),
    "SalesRepRef": ("ref", 0),
    "PaymentMethodRef": ("ref", 0),
    "PriceLevelRef": ("ref", 0),
    "CurrencyRef": ("ref", 0),
    "ARAccountRef": ("ref", 0),
    "TaxGroupCodeRef": ("ref", 0),
    "TaxRateRef": ("ref", 0),
    "Balance": ("decimal", 0),
    "OpenBalanceDate": ("date", 0),
    "CreditLimit": ("decimal", 0),
    "AcctNum": ("str", 99),
    "PreferredDeliveryMethod": ("str", 10),
    "ResaleNum": ("str", 16),
    "TDSEnabled": ("bool", 0),
    "SecondaryTaxIdentifier": ("str", 50),
    "PrimaryTaxIdentifier": ("str", 50),
    "TaxExemptionReasonId": ("str", 50),
    "IsProject": ("bool", 0),
    "BusinessNumber": ("str", 50),
    "GSTIN": ("str", 15),
    "GSTRegistrationType": ("str", 50),
    "IsCISContractor": ("bool", 0),
    "Source": ("str", 50),
    "TaxRegime": ("str", 50),
    "Organization": ("bool", 0),
    "UserId": ("str", 100),
    "IntuitId": ("str", 100),
    "CustomField": ("any", 0),
    "AttachableRef": ("any", 0),
    "OtherContactInfo": ("any", 0),
    "CCDetail": ("any", 0),
    "JobInfo": ("any", 0),
    "CustomerEx": ("any", 0),
}

# Set by the server; accepted on input (clients echo what they read) and ignored.
READ_ONLY = frozenset(
    {
        "Id",
        "SyncToken",
        "MetaData",
        "FullyQualifiedName",
        "Level",
        "BalanceWithJobs",
        "V4IDPseudonym",
        "RootCustomerRef",
        "OverDueBalance",
        "TotalRevenue",
        "TotalExpense",
        "ClientCompanyId",
        "ClientEntityId",
        "domain",
        "sparse",
        "status",
    }
)

ADDRESS_FIELDS: dict[str, int] = {
    "Id": 20,
    "Line1": 500,
    "Line2": 500,
    "Line3": 500,
    "Line4": 500,
    "Line5": 500,
    "City": 255,
    "Country": 255,
    "CountryCode": 10,
    "CountrySubDivisionCode": 255,
    "PostalCode": 30,
    "Lat": 30,
    "Long": 30,
    "Note": 2000,
}

NAME_ELEMENTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
MAX_LEVEL = 4  # five levels: 0 (top) to 4
MAX_FULLY_QUALIFIED_NAME = 209

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "AUD": "Australian Dollar",
    "MXN": "Mexican Peso",
}
