"""The OpenAPI document, made to tell the truth about what the server answers.

FastAPI's generated document says every operation may answer 422 with its own
`{"detail": [...]}`, while our handlers answer 400 in the `{"error": {...}}` envelope
(`api/errors.py`); it knows nothing of the 401, 404, 409 and 502 the routes raise, of the
bearer key, of `Connection-Id` being required (the dependency reads it as optional so
that its absence gets our 400, not FastAPI's), or of bodies the routes build by hand.
`exact_openapi` rewrites the generated document once, from what each operation declares
(its parameters, body and `bearer` security, from `api/deps.py`) plus `_EXTRA_ERRORS`;
`tests/api/test_openapi.py` holds it to the server's answers with a schema-driven fuzzer
(schemathesis), so a drift fails the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.unified.customer import UnifiedCustomer

_REF = "#/components/schemas/{model}"


class ErrorItem(BaseModel):
    """One problem: a field and what is wrong with it, or a platform's own refusal
    (`provider`, `http_status`, `code`, `message`, `request_id`)."""

    model_config = ConfigDict(extra="allow")

    field: str | None = None
    message: str | None = None


class ErrorInfo(BaseModel):
    code: str = Field(description="What went wrong, for programs: `invalid_query_params`, ...")
    message: str = Field(description="What went wrong and what to do, for people.")
    errors: list[ErrorItem]


class ErrorEnvelope(BaseModel):
    """Every error the unified API answers has this one shape."""

    error: ErrorInfo


class RecordMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_seen_at: str = Field(json_schema_extra={"format": "date-time"})
    last_modified_at: str = Field(json_schema_extra={"format": "date-time"})
    last_action: Literal["ADDED", "UPDATED", "DELETED"]
    deleted_at: str | None = Field(json_schema_extra={"format": "date-time"})
    cursor: str = Field(description="Pass as `cursor` to read the records after this one.")


class CustomerRecord(UnifiedCustomer):
    """A customer as `GET /customers` serves it: the unified fields and its metadata."""

    nango_metadata: RecordMetadata = Field(alias="_nango_metadata")
    remote_data: dict[str, Any] | None = Field(
        default=None, description="The provider's own payload, with `include=remote_data`."
    )


class CustomerPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[CustomerRecord]
    next_cursor: str | None = Field(description="The next page's cursor; null on the last.")


_BODIES: dict[tuple[str, str], tuple[str, type[BaseModel]]] = {
    ("get", "/customers"): ("200", CustomerPage),
    ("get", "/customers/{customer_id}"): ("200", CustomerRecord),
    ("post", "/customers"): ("201", CustomerRecord),
    ("patch", "/customers/{customer_id}"): ("200", CustomerRecord),
}
"""Success bodies of routes that build their answer by hand (for speed)."""

_WRITE_BACK = (404, 409, 422, 429, 502)
_EXTRA_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/customers"): _WRITE_BACK,
    ("patch", "/customers/{customer_id}"): _WRITE_BACK,
    ("get", "/customers/{customer_id}"): (404,),
    ("post", "/connections/{connection_id}/sync"): (409,),
    ("post", "/connections"): (409,),
    ("patch", "/connections/{connection_id}"): (409,),
    ("post", "/environments"): (409,),
}
"""Errors a route raises beyond those its parameters and dependencies imply: the
platform's refusals on write-back (`provider_error_response`), a record not found, a
connection that needs re-authorisation or is paused, an `end_user_id` taken, an
environment that exists."""

_ERROR_MEANINGS = {
    400: "The request is invalid (parameters, headers or body); `errors` says where.",
    401: "No API key, or not a valid one (or a revoked one).",
    403: "The key's scope does not allow this (`read` keys only read; environments take "
    "the operator key).",
    404: "No such connection, customer, key, environment or platform connect flow in the "
    "caller's environment.",
    409: "A conflict: the record changed in the platform (`stale_record`), the connection "
    "must be re-authorised (`needs_reauth`) or is `paused`, the `end_user_id` is another "
    "connection's (`end_user_taken`), the environment exists (`environment_exists`).",
    422: "The platform refused the data (`provider_validation`, its own code in `errors`).",
    429: "The platform is throttling requests; retry after `Retry-After` seconds.",
    502: "The platform failed the request.",
}

_REDIRECT_MEANINGS = {
    303: "Back to the app's redirect (`redirect_uri`, or the connect session's), with "
    "`connection_id` or `error`.",
    307: "To the platform's consent page.",
}


def _schema_of(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` to `model`, whose schema (and those it uses) join the components."""
    schema = model.model_json_schema(by_alias=True, ref_template=_REF, mode="serialization")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


_RESOURCE_PARAMETERS = (
    "Connection-Id",
    "connection_id",
    "provider",
    "key_id",
    "webhook_id",
    "Ledgerbridge-Environment",
)


def _names_a_resource(operation: dict[str, Any]) -> bool:
    """A connection (header or path), a key, a webhook subscription, an environment (the
    operator's header) or a platform's connect flow (path), any of which may not exist."""
    return any(
        parameter["name"] in _RESOURCE_PARAMETERS for parameter in operation.get("parameters", [])
    )


def _needs_a_scope(operation: dict[str, Any]) -> bool:
    """The operation's `bearer` requirement names scopes (`full`, `operator`): a key
    without them is refused (403)."""
    return any(
        scopes for requirement in operation.get("security", []) for scopes in requirement.values()
    )


def _error_statuses(operation: dict[str, Any], key: tuple[str, str]) -> set[int]:
    """What the operation's inputs imply: anything with parameters or a body can be
    invalid (400), anything behind the key can be refused (401), or refused to a key
    without the scope it needs (403), anything naming a connection, key, environment or
    platform can name one that does not exist (404); plus `_EXTRA_ERRORS`."""
    statuses = set(_EXTRA_ERRORS.get(key, ()))
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(400)
    if operation.get("security"):
        statuses.add(401)
    if _needs_a_scope(operation):
        statuses.add(403)
    if _names_a_resource(operation):
        statuses.add(404)
    return statuses


def _fix_operation(
    key: tuple[str, str], operation: dict[str, Any], schemas: dict[str, Any]
) -> None:
    responses: dict[str, Any] = operation["responses"]
    responses.pop("422", None)  # FastAPI's {"detail": [...]}: never answered
    if key in _BODIES:
        success, model = _BODIES[key]
        responses[success]["content"] = {"application/json": {"schema": _schema_of(model, schemas)}}
    for status in (204, 303, 307):
        if str(status) in responses:
            responses[str(status)].pop("content", None)
            if status in _REDIRECT_MEANINGS:
                responses[str(status)]["description"] = _REDIRECT_MEANINGS[status]
                responses[str(status)]["headers"] = {
                    "Location": {"schema": {"type": "string"}, "description": "Where to go."}
                }
    envelope = _schema_of(ErrorEnvelope, schemas)
    for status in sorted(_error_statuses(operation, key)):
        responses[str(status)] = {
            "description": _ERROR_MEANINGS[status],
            "content": {"application/json": {"schema": envelope}},
        }
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"] == "Connection-Id":
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1}


def exact_openapi(app: FastAPI) -> dict[str, Any]:
    """The document FastAPI generates, corrected as the module docstring says (built once)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _fix_operation((method, path), operation, schemas)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: exact_openapi(app)  # type: ignore[method-assign]
