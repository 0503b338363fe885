"""Serving the ASGI app with uvicorn on a socket we bind ourselves.

Binding first means a port in use is found before anything says "listening", and is
reported as one `ConfigurationError` suggesting `--port` / `LEDGERBRIDGE_PORT`. uvicorn
then stops on SIGTERM as on SIGINT (what systemd, Docker and Kubernetes send): it stops
accepting, lets requests in flight finish for up to `GRACEFUL_SHUTDOWN_S`, and runs the
app's shutdown, which stops the scheduler and records runs in flight as interrupted; a
second signal exits at once.
"""

from __future__ import annotations

import errno
import socket
from types import FrameType
from typing import Any

import uvicorn

from ledgerbridge.config import Settings
from ledgerbridge.errors import ConfigurationError

GRACEFUL_SHUTDOWN_S = 10
KEEP_ALIVE_S: int = Settings.model_fields["keep_alive_s"].default
"""How long an idle keep-alive connection stays open unless `LEDGERBRIDGE_KEEP_ALIVE_S`
says otherwise (uvicorn's default is 5 s). A client that sends its next request just as
the server closes the connection gets a reset (httpx: `ReadError`); a load balancer gets
the same and answers 502. So the server must be the side that waits longest: longer than
the usual balancers' 60 s idle timeout (AWS's Application Load Balancer asks its targets
for a keep-alive above its own). Seen here: `records_bench`'s 50 readers, whose own
process falls seconds behind on two busy cores, now and then lost a request that way."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a `ConfigurationError` saying what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Named TCP (not protocol 0), so asyncio turns Nagle's algorithm off on every accepted
    # connection, as it does for sockets it binds itself (`base_events._set_nodelay`
    # checks the protocol). Without it, a response smaller than a segment (uvicorn writes
    # the headers and the body apart) waited for the client's delayed ACK: about 40 ms on
    # every keep-alive request, whatever the work (`GET /health`: 1.2 ms served, 44 ms seen).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on {host} is already in use; stop what is using it, or pass "
                f"--port (or set LEDGERBRIDGE_PORT) to listen on another"
            ) from None
        raise ConfigurationError(
            f"cannot listen on {host}:{port} ({exc.strerror}); check --host/--port "
            f"(LEDGERBRIDGE_HOST, LEDGERBRIDGE_PORT)"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, where a second SIGTERM (not only a second Ctrl+C) stops at once."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        super().handle_exit(sig, frame)


def server(app: Any, *, keep_alive_s: int = KEEP_ALIVE_S) -> uvicorn.Server:
    """A uvicorn server for `app` whose lines go through our logging (no access log of
    its own: `observability/access.py` writes one with durations), keeping idle
    connections open `keep_alive_s` (`Settings.keep_alive_s`)."""
    return _Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            timeout_keep_alive=keep_alive_s,
        )
    )


_URL_FILE = "ledgerbridge-serving.url"


def remember_url(settings: Settings) -> None:
    """Note where this server listens, in the data folder, so the CLI's `sandbox token`
    and `connect` print and use URLs with the port it really runs on."""
    (settings.data_dir / _URL_FILE).write_text(settings.base_url + "\n")


def last_url(settings: Settings) -> str:
    """The URL of the server run from this data folder last; else the settings' own."""
    explicit = settings.public_url or "port" in settings.model_fields_set
    noted = settings.data_dir / _URL_FILE
    if not explicit and noted.is_file():
        return noted.read_text().strip() or settings.base_url
    return settings.base_url
