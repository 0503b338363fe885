"""The socket `serve` listens on: small answers on a kept-alive connection come back at
once, not after the client's delayed ACK, and an idle kept-alive connection outlives
uvicorn's default 5 s."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledgerbridge import serving


async def _small_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"status": "ok"}'})


@contextmanager
def _serving() -> Iterator[int]:
    """`serve`'s server (our socket, our uvicorn settings) in a thread; yields its port."""
    sock = serving.bind("127.0.0.1", 0)
    server = serving.server(_small_answer)
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
    assert serving.KEEP_ALIVE_S > 60


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
