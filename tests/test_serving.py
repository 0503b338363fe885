"""The socket `serve` listens on: small answers on a kept-alive connection come back at
once, not after the client's delayed ACK, and an idle kept-alive connection outlives
uvicorn's default 5 s."""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import ValidationError

from ledgerbridge import serving
from ledgerbridge.config import Settings


async def _small_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"status": "ok"}'})


@contextmanager
def _serving(**settings: Any) -> Iterator[int]:
    """`serve`'s server (our socket, our uvicorn settings) in a thread; yields its port."""
    sock = serving.bind("127.0.0.1", 0)
    server = serving.server(_small_answer, **settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_an_idle_kept_alive_connection_outlives_uvicorns_default() -> None:
    """uvicorn closes a connection idle for 5 s by default: a client (or a load balancer,
    whose own idle timeout is usually 60 s) sending its next request as it closes gets a
    reset. `serving.KEEP_ALIVE_S` keeps it open; after 5.5 s idle the same connection
    still answers."""
    with _serving() as port:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        client.request("GET", "/")
        assert client.getresponse().read() == b'{"status": "ok"}'
        time.sleep(5.5)
        client.request("GET", "/")
        assert client.getresponse().read() == b'{"status": "ok"}'
        client.close()
    assert serving.KEEP_ALIVE_S == Settings(_env_file=None).keep_alive_s > 60  # type: ignore[call-arg]


def test_the_keep_alive_is_a_setting() -> None:
    """`LEDGERBRIDGE_KEEP_ALIVE_S` (for a balancer whose idle timeout is longer than 75 s):
    the server closes a connection idle that long, and not before."""
    assert Settings(_env_file=None, keep_alive_s=90).keep_alive_s == 90  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="keep_alive_s"):
        Settings(_env_file=None, keep_alive_s=0)  # type: ignore[call-arg]
    with _serving(keep_alive_s=1) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        sock.settimeout(10)
        answered = b""
        while not answered.endswith(b"\r\n0\r\n\r\n"):  # the last chunk of the answer
            answered += sock.recv(4096)
        idle_from = time.monotonic()
        assert sock.recv(4096) == b""  # closed by the server
        assert 0.9 <= time.monotonic() - idle_from < 5


def test_small_answers_on_a_kept_alive_connection_are_not_held_back() -> None:
    """uvicorn writes a response's headers and body apart; with Nagle's algorithm on, the
    body waited for the ACK of the headers, which the client delays by 40 ms or more
    (Linux's least): every such request took 40 ms more. 20 requests: the median under 30 ms,
    with room for a loaded machine."""
    with _serving() as port:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        took = []
        for _ in range(21):
            began = time.perf_counter()
            client.request("GET", "/")
            assert client.getresponse().read() == b'{"status": "ok"}'
            took.append(time.perf_counter() - began)
        client.close()
    assert statistics.median(took[1:]) < 0.03, [round(t * 1000, 1) for t in took]
