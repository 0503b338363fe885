"""Refuses text the databases cannot store, once, before any route sees the request.

PostgreSQL's text types cannot hold a NUL character (psycopg raises `DataError` as the
value is sent) and no database driver can encode a lone UTF-16 surrogate (which a JSON
body can spell as `"\\ud800"`). SQLite stores both, so the same request would succeed on
one backend and fail with a 500 on the other. Every text input of the unified API, the
path, the query string, the headers and a JSON body, is checked here, so a route added
later is covered without doing anything: the answer is a 400 in the unified envelope,
naming where the character was.

The sandboxes are separate systems with their own envelopes; they are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.api.errors import LOCATION_CODES, error_response

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored as text, or None if it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which text cannot hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate, which is not valid Unicode text"
    return None


def _json_strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every key and string of a parsed JSON document, with a dotted path to it."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            yield path, key
            yield from _json_strings(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{where}.{index}" if where else str(index))


def _first_problem(items: Iterator[tuple[str, str]]) -> tuple[str, str] | None:
    for field, text in items:
        reason = unstorable(text)
        if reason is not None:
            return field, reason
    return None


def _request_problem(scope: Scope) -> tuple[str, str, str] | None:
    """(location, field, reason) of the first unstorable text in the path, query or headers."""
    path = _first_problem(iter([("path", scope["path"])]))
    if path is not None:
        return ("path", *path)
    query = scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(query, keep_blank_values=True)
    found = _first_problem(item for name, value in pairs for item in ((name, name), (name, value)))
    if found is not None:
        return ("query", *found)
    headers = (
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
    )
    found = _first_problem(headers)
    return None if found is None else ("header", *found)


def _body_problem(body: bytes) -> tuple[str, str, str] | None:
    """Unstorable text in a JSON body (a body that is not JSON is the route's to refuse)."""
    if b"\x00" not in body and b"\\u" not in body and b"\\U" not in body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    found = _first_problem(_json_strings(document, ""))
    return None if found is None else ("body", *found)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a `receive` that hands it on to the app unchanged."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


class RefuseUnstorableText:
    """ASGI middleware: a 400 for any request of the unified API whose text the database
    cannot store (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, skip_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return
        problem = _request_problem(scope)
        if problem is None and scope["method"] in _BODY_METHODS:
            body, receive = await _read_body(receive)
            problem = _body_problem(body)
        if problem is None:
            await self.app(scope, receive, send)
            return
        location, field, reason = problem
        response = error_response(
            400,
            LOCATION_CODES[location],
            f"The request is invalid: {field}: {reason}",
            [{"field": field, "message": reason}],
        )
        await response(scope, receive, send)
