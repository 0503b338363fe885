"""Environments: every connection, API key, webhook subscription and sync run belongs to
one (`dev`, `prod`, or any name the operator creates), and a key sees only its own."""

from __future__ import annotations

DEFAULT_ENVIRONMENT = "dev"
"""The environment of rows made before environments existed, and of keys created without
`--environment`."""
