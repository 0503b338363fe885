"""A webhook receiver for the tests: a real HTTP server on a loopback port, in a thread,
that records every request and can be told to answer 500, to hang (so the sender times
out), to fail at random, or to be down (nothing listening on its port)."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    """Room for every sender's connections at once (the default backlog of 5 makes the
    kernel drop connection attempts beyond it, which then wait a second to retry)."""

    request_queue_size = 128
    daemon_threads = True


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    path: str
    body: bytes
    headers: dict[str, str]
    answered: int | None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Behaviour:
    status: int = 200
    hang_s: float = 0.0
    failure_rate: float = 0.0  # answer 500 to this share of requests, at random
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    script: list[tuple[int, float]] = field(default_factory=list)
    """(status, hang_s) of the next requests, in order, before `status` and `hang_s`."""

    def next_answer(self) -> tuple[int, float]:
        return self.script.pop(0) if self.script else (self.status, self.hang_s)


class Receiver:
    """Start with `start()`; `stop()` takes it down (connections refused) and `start()`
    brings it back on the same port."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.arrived: list[bytes] = []  # every request's body as it came in, answered or not
        self.behaviour = Behaviour()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.arrived.append(body)
                behaviour = receiver.behaviour
                with receiver._lock:
                    status, hang_s = behaviour.next_answer()
                if hang_s:
                    time.sleep(hang_s)
                if behaviour.failure_rate and behaviour.rng.random() < behaviour.failure_rate:
                    status = 500
                receiver._record(Received(self.path, body, dict(self.headers), status))
                answer = b'{"received": true}' if status < 300 else b"receiver failed"
                with contextlib.suppress(OSError):  # the sender gave up (timed out, killed)
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        """The events answered with a 2xx (sent to `path`, if given), in arrival order."""
        with self._lock:
            return [
                r.event
                for r in self.requests
                if r.answered and r.answered < 300 and path in (None, r.path)
            ]

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} requests"
            time.sleep(0.02)
