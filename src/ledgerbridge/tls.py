"""The process's one TLS context for outgoing HTTPS.

httpx builds a new `ssl.SSLContext` for every client made without one, loading certifi's CA
bundle (or `SSL_CERT_FILE`) each time: 50-100 ms of CPU. Every client here (the connectors'
shared client, the webhook deliverer, a sandbox delivering change notifications, each app
created in a test) takes this one instead.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification, built once per process."""
    return httpx.create_ssl_context()
