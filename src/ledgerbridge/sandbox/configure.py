"""`ledgerbridge sandbox configure`: KEY=VALUE pairs turned into a validated change of a
tenant's knobs, or one message saying what is wrong (an unknown key lists the valid ones)."""

from __future__ import annotations

import json

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from ledgerbridge.db import write_transaction
from ledgerbridge.sandbox.tenants import TenantSettings, update_tenant

KEYS = tuple(TenantSettings.model_fields)
_OFF = ("none", "null", "off")


class TenantChangeError(ValueError):
    """The asked change cannot be made; the message says why and what would work."""


def parse_pairs(pairs: list[str]) -> dict[str, object]:
    """`["error_rate=0.1", "max_concurrent=none"]` as a dict. Values are JSON when they
    parse as JSON (numbers, true, lists), text otherwise; none/null/off is None."""
    changes: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise TenantChangeError(f"expected KEY=VALUE, got {pair!r}")
        changes[key] = None if raw.lower() in _OFF else _value(raw)
    return changes


def parse_changes(pairs: list[str]) -> dict[str, object]:
    """`parse_pairs` of a tenant's knobs: an unknown key lists the valid ones."""
    changes = parse_pairs(pairs)
    for key in changes:
        if key not in KEYS:
            raise TenantChangeError(f"unknown key {key!r}; the keys are {', '.join(KEYS)}")
    return changes


def _value(raw: str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def configure_tenant(
    engine: Engine, provider: str, tenant_id: str, pairs: list[str]
) -> TenantSettings:
    """Apply the KEY=VALUE `pairs` to the tenant's knobs and return the new settings."""
    changes = parse_changes(pairs)
    with write_transaction(engine) as connection:
        try:
            return update_tenant(connection, provider, tenant_id, changes)
        except KeyError:
            raise TenantChangeError(
                f"there is no {provider} sandbox tenant {tenant_id!r}; "
                "create it with `ledgerbridge sandbox seed`"
            ) from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise TenantChangeError(f"invalid value: {problems}") from None
