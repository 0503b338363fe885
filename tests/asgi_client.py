"""The in-process client of the tests: Starlette's `TestClient` (its lifespan, its event
loop in a thread, cookies, redirects, default headers), with each request run as one call
into the app's event loop.

Starlette's own transport streams a response back as the app sends it, handing over
between the test's thread and the loop's about eight times a request (the app's start, each
message, each body chunk). On two cores those hand-overs cost more than the app itself:
`GET /health` took 3.8 ms of CPU through it against 1.4 ms for the app alone over
`httpx.ASGITransport`. This transport builds the same ASGI scope Starlette's does, runs the
app to its end in the loop and hands back the whole response: one hand-over. Nothing the
tests read through it streams (the dashboard's live stream is read by a real browser)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import anyio
import httpx
from starlette.testclient import TestClient as StarletteTestClient
from starlette.types import ASGIApp, Message

_DEFAULT_PORTS = {"http": 80, "https": 443}

_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class _OneCallTransport(httpx.BaseTransport):
    """Each request as one coroutine run in the client's event loop: the app's whole
    response, collected there."""

    def __init__(self, client: TestClient, starlette: Any) -> None:
        self._client = client
        self._raise = bool(starlette.raise_server_exceptions)
        self._root_path = str(starlette.root_path)
        self._peer: tuple[str, int] = starlette.client
        self._app_state: dict[str, Any] = starlette.app_state

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        with self._client._portal_factory() as portal:
            status, headers, content = portal.call(self._answer, request, body)
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(content), request=request
        )

    def _scope(self, request: httpx.Request) -> dict[str, Any]:
        """The scope Starlette's `TestClient` gives the app, to the letter."""
        url = request.url
        headers = [] if "host" in request.headers else [(b"host", url.netloc)]
        headers += [(key.lower(), value) for key, value in request.headers.raw]
        return {
            "type": "http",
            "http_version": "1.1",
            "method": request.method,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "root_path": self._root_path,
            "scheme": url.scheme,
            "query_string": url.query,
            "headers": headers,
            "client": self._peer,
            "server": [url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 80)],
            "extensions": {},
            "state": self._app_state.copy(),
        }

    async def _answer(self, request: httpx.Request, body: bytes) -> _Answer:
        received = False
        complete = anyio.Event()
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        parts: list[bytes] = []

        async def receive() -> Message:
            nonlocal received
            if received:
                await complete.wait()
                return {"type": "http.disconnect"}
            received = True
            return {"type": "http.request", "body": body}

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                if request.method != "HEAD":
                    parts.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    complete.set()

        try:
            await self._client.app(self._scope(request), receive, send)
        except Exception:
            if self._raise:
                raise
        finally:
            complete.set()
        if status is None:
            if self._raise:
                raise AssertionError("TestClient did not receive any response.")
            return 500, [], b""
        return status, headers, b"".join(parts)


class TestClient(StarletteTestClient):
    """Starlette's `TestClient`, each request one call into the app's loop."""

    __test__ = False

    def __init__(self, app: ASGIApp, *args: Any, **kwargs: Any) -> None:
        super().__init__(app, *args, **kwargs)
        self._transport = _OneCallTransport(self, self._transport)
