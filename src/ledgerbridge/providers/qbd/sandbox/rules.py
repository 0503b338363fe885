"""Request bodies checked against Conductor's own published schemas, and the bodies turned
into the stored customer fields.

The schemas are read from Conductor's OpenAPI document rather than retyped, so the field
limits, enums and "no unknown properties" are exactly the published ones.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from ledgerbridge.providers.qbd import wire
from ledgerbridge.providers.qbd.sandbox.catalog import CATALOG, reference

CREATE_PATH = "/quickbooks-desktop/customers"
UPDATE_PATH = "/quickbooks-desktop/customers/{id}"
_AMOUNT = re.compile(r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")


@cache
def body_schema(path: str) -> dict[str, Any]:
    """The JSON schema of the POST body of `path`, as Conductor publishes it."""
    operation = wire.openapi()["paths"][path]["post"]
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def _where(path: str) -> str:
    return f"`{path}`" if path else "the request body"


def _bad(path: str, problem: str) -> wire.ConductorError:
    return wire.invalid_request(f"Invalid request body: {_where(path)} {problem}.")


def validate(value: Any, schema: Mapping[str, Any], path: str = "") -> None:
    """Raise Conductor's 400 for the first way `value` breaks `schema` (the subset of JSON
    Schema Conductor's request bodies use: types, required, additionalProperties, enum,
    maxLength, minItems, formats date and uuid)."""
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise _bad(path, "must be an object")
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise _bad(f"{path}.{name}".lstrip("."), "is required")
        for name, item in value.items():
            if name not in properties:
                if schema.get("additionalProperties") is False:
                    raise _bad(f"{path}.{name}".lstrip("."), "is not a recognized property")
                continue
            validate(item, properties[name], f"{path}.{name}".lstrip("."))
    elif kind == "array":
        if not isinstance(value, list):
            raise _bad(path, "must be an array")
        if len(value) < schema.get("minItems", 0):
            raise _bad(path, f"must have at least {schema['minItems']} item(s)")
        for index, item in enumerate(value):
            validate(item, schema.get("items", {}), f"{path}[{index}]")
    elif kind == "string":
        _validate_string(value, schema, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _bad(path, "must be a boolean")
    elif kind in ("number", "integer") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise _bad(path, "must be a number")


def _validate_string(value: Any, schema: Mapping[str, Any], path: str) -> None:
    if not isinstance(value, str):
        raise _bad(path, "must be a string")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _bad(path, f"must be at most {schema['maxLength']} characters")
    if "enum" in schema and value not in schema["enum"]:
        raise _bad(path, "must be one of " + ", ".join(f'"{e}"' for e in schema["enum"]))
    if schema.get("format") == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _bad(path, "must be a date (YYYY-MM-DD)") from None
    if schema.get("format") == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            raise _bad(path, "must be a UUID") from None


def amount(body: Mapping[str, Any], field: str) -> Decimal | None:
    """A money field of the body (`"1000.00"`) as an exact Decimal."""
    text = body.get(field)
    if text is None:
        return None
    if not _AMOUNT.match(text):
        raise _bad(field, "must be a decimal string with at most 2 decimal places")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise _bad(field, "must be a decimal string") from None


def check_name(name: str) -> None:
    """QuickBooks Desktop refuses a blank name and a colon (it separates `fullName` levels)."""
    if not name.strip():
        raise _bad("name", "must not be blank")
    if ":" in name:
        raise _bad("name", 'must not contain ":"')


def resolve_references(body: Mapping[str, Any]) -> dict[str, Any]:
    """The `{id, fullName}` references of the body's `*Id` fields; an unknown id is refused
    as QuickBooks Desktop refuses it (3140)."""
    resolved: dict[str, Any] = {}
    for body_field, response_field in wire.REFERENCE_FIELDS.items():
        if body_field not in body:
            continue
        found = reference(body_field, body[body_field])
        if found is None:
            raise wire.invalid_reference(CATALOG[body_field].label, body[body_field])
        resolved[response_field] = found
    return resolved


def _filled(value: Mapping[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    # Conductor prints every field of a nested object, null where QuickBooks has none.
    return None if value is None else {field: value.get(field) for field in fields}


# Body fields copied as they are into the stored customer.
PLAIN_FIELDS = (
    "companyName", "salutation", "firstName", "middleName", "lastName", "jobTitle",
    "phone", "alternatePhone", "fax", "email", "ccEmail", "contact", "alternateContact",
    "salesTaxCountry", "resaleNumber", "accountNumber", "jobStatus", "jobStartDate",
    "jobProjectedEndDate", "jobEndDate", "jobDescription", "note", "preferredDeliveryMethod",
    "taxRegistrationNumber", "customContactFields",
)  # fmt: skip


def native_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields a create or update body sets (not the name, parent or balance,
    which the store handles), with nested objects printed in full."""
    fields: dict[str, Any] = {name: body[name] for name in PLAIN_FIELDS if name in body}
    for name in ("billingAddress", "shippingAddress"):
        if name in body:
            fields[name] = _filled(body[name], wire.ADDRESS_FIELDS)
    if "alternateShippingAddresses" in body:
        fields["alternateShippingAddresses"] = [
            _filled(address, wire.SHIPPING_ADDRESS_FIELDS)
            for address in body["alternateShippingAddresses"]
        ]
    if "creditCard" in body:
        fields["creditCard"] = _filled(body["creditCard"], wire.CREDIT_CARD_FIELDS)
    if "creditLimit" in body:
        limit = amount(body, "creditLimit")
        fields["creditLimit"] = None if limit is None else wire.money(limit)
    if "externalId" in body:
        fields["externalId"] = body["externalId"]
    fields.update(resolve_references(body))
    return fields
