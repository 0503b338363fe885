"""The contract between the shared sandbox machinery and each provider's sandbox."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.engine import Engine

from ledgerbridge.db import utcnow
from ledgerbridge.sandbox.limits import Gate

if TYPE_CHECKING:
    from fastapi import FastAPI


@dataclass
class SandboxContext:
    """What a provider sandbox is built from: the sandbox database, the limiter, a clock
    (tests move it to expire tokens), the public URL the sandboxes are served under, and
    who may use the admin APIs."""

    engine: Engine
    base_url: str = "http://127.0.0.1:8000"
    gate: Gate = field(default_factory=Gate)
    clock: Callable[[], datetime] = utcnow
    admin_key_check: Callable[[str], bool] | None = None
    """When set, the admin APIs (`{mount}/_admin`) answer only requests bearing a key it
    accepts: the server set it when it listens beyond loopback."""


@dataclass(frozen=True)
class SeedResult:
    tenant_id: str
    customers: int


class SandboxProvider(Protocol):
    """One platform's sandbox. Part of the platform's `Platform` object."""

    @property
    def name(self) -> str:
        """Short provider name used everywhere: `qbo`, `qbd`, `intacct`."""
        ...

    @property
    def mount_path(self) -> str:
        """Where the app is mounted on the server, e.g. `/sandbox/qbo`."""
        ...

    @property
    def migrations(self) -> str | None:
        """Alembic version folder of its tables (`package:folder`), a branch of its own;
        None for a sandbox that keeps no tables of its own."""
        ...

    @property
    def migration_head(self) -> str | None:
        """The newest revision in `migrations`: a sandbox database at every sandbox's head
        is recognised at start-up without importing Alembic, nor this sandbox's code (a
        test compares it with Alembic's own reading)."""
        ...

    def create_app(self, context: SandboxContext) -> FastAPI:
        """The ASGI app serving the platform's API, mounted at `mount_path`."""
        ...

    def create(self, context: SandboxContext, tenant_id: str) -> None:
        """Create the tenant, empty, if it is new. Tenants are made only by this and by
        `seed`: a request naming an unknown one gets the platform's own error."""
        ...

    def seed(
        self, context: SandboxContext, tenant_id: str, customers: int, seed: int | None
    ) -> SeedResult:
        """Create the tenant if needed and add `customers` realistic customers."""
        ...

    def credentials(self, context: SandboxContext, tenant_id: str) -> dict[str, str]:
        """What a client needs to call the tenant now (tokens, keys, ids), for the CLI;
        `LookupError` with a one-line message when the tenant does not exist."""
        ...

    def reset(self, context: SandboxContext, tenant_id: str | None) -> None:
        """Delete one tenant's data, or every tenant's."""
        ...

    def customer_count(self, context: SandboxContext, tenant_id: str) -> int:
        """How many customers the tenant holds now (the dashboard's sandboxes page)."""
        ...


@runtime_checkable
class SandboxWithBackground(Protocol):
    """A sandbox that works between requests too (QuickBooks Online sends change
    notifications): the server runs `background(context)`'s coroutines for as long as it
    serves the sandboxes, and cancels them when it stops."""

    def background(
        self, context: SandboxContext
    ) -> Sequence[Callable[[], Coroutine[Any, Any, None]]]:
        """The sandbox's long-running tasks, not yet started."""
        ...


class LazySandbox:
    """A platform's sandbox, named and located up front and imported on first use.

    A process that never serves, seeds or resets a sandbox (`ledgerbridge sync`, a
    `worker`) then never imports the sandbox's code, nor FastAPI through it: about half
    of a CLI command's start-up. `load` is `package.module:attribute`, the provider object;
    its own `name`, `mount_path`, `migrations` and `migration_head` must match these (the
    registry's tests check)."""

    def __init__(
        self,
        name: str,
        mount_path: str,
        migrations: str | None,
        migration_head: str | None,
        load: str,
    ) -> None:
        self.name = name
        self.mount_path = mount_path
        self.migrations = migrations
        self.migration_head = migration_head
        self.load = load

    @cached_property
    def provider(self) -> SandboxProvider:
        """The sandbox itself, imported now."""
        module, _, attribute = self.load.partition(":")
        provider: SandboxProvider = getattr(importlib.import_module(module), attribute)
        return provider

    def __getattr__(self, name: str) -> Any:
        # A platform's own extras (`background`, QuickBooks Online's `set_webhook`).
        if name.startswith("__") or name == "provider":
            raise AttributeError(name)
        return getattr(self.provider, name)

    def create_app(self, context: SandboxContext) -> FastAPI:
        return self.provider.create_app(context)

    def create(self, context: SandboxContext, tenant_id: str) -> None:
        self.provider.create(context, tenant_id)

    def seed(
        self, context: SandboxContext, tenant_id: str, customers: int, seed: int | None
    ) -> SeedResult:
        return self.provider.seed(context, tenant_id, customers, seed)

    def credentials(self, context: SandboxContext, tenant_id: str) -> dict[str, str]:
        return self.provider.credentials(context, tenant_id)

    def reset(self, context: SandboxContext, tenant_id: str | None) -> None:
        self.provider.reset(context, tenant_id)

    def customer_count(self, context: SandboxContext, tenant_id: str) -> int:
        return self.provider.customer_count(context, tenant_id)
