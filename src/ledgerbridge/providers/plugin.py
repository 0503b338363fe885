"""One object per platform that says everything the rest of the product needs to know
about it; `providers/registry.py` lists them.

Connection validation, the CLI's provider choices, the OpenAPI enum of `provider`, the
sandbox mounts and migrations, `connect --sandbox` and the OAuth connect routes all read
a `Platform`, so a fourth platform is its folder (whose `__init__.py` builds the object)
and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.providers.base import ConnectorFactory, MappedCustomer
from ledgerbridge.providers.client import RequestLimits
from ledgerbridge.sandbox.base import SandboxContext, SandboxProvider

if TYPE_CHECKING:
    from ledgerbridge.config import Settings


@dataclass(frozen=True)
class OAuthApp:
    """An OAuth client registered with the platform and where its flow happens."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_url: str
    """The API root a connection made through this app talks to."""


class OAuthConnect(Protocol):
    """A platform's browser connect flow (authorization code), driven by
    `GET /connections/{provider}/authorize` and `/callback`."""

    scope: str
    tenant_param: str
    """The callback's query parameter naming the company (QuickBooks' `realmId`)."""

    def app(self, settings: Settings, sandbox: SandboxContext, public_base: str) -> OAuthApp:
        """The app configured in `settings`, else the local sandbox's (served under
        `public_base`), so the flow works end to end with no account at the platform."""
        ...

    def credentials(
        self, app: OAuthApp, tenant: str, answer: Mapping[str, Any], received_at: datetime
    ) -> dict[str, Any]:
        """The connection's stored credentials from the token endpoint's answer."""
        ...


SandboxCredentials = Callable[[Mapping[str, str], datetime], dict[str, Any]]
"""What the sandbox issued for a tenant (`SandboxProvider.credentials`) → the credentials
a connection stores, as the platform's real connect flow would hand them over."""

CustomerMapper = Callable[[Mapping[str, Any]], MappedCustomer]
"""A platform-native customer → the record the store takes (pure; the mapper's)."""


class ConnectionSettings(BaseModel):
    """Per-connection sync options, stored on the connection. Every platform takes the
    request budget (below the platform's own limits, e.g. when another app shares the
    company's quota); a platform's subclass adds its own options, handed to its connector
    as `ConnectorSettings.extra`."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Requests in flight at once (default: the platform's limit).",
    )
    requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Requests per rolling minute (default: the platform's limit).",
    )


@dataclass(frozen=True)
class AccountChange:
    """A change notification's news about one account at the platform (a QuickBooks realm):
    something changed there, at `changed_at` when the notification says."""

    account_id: str
    changed_at: datetime | None


class ChangeNotifications(Protocol):
    """How a platform signs and shapes the change notifications it pushes
    (`POST /notifications/{provider}`); the rest is the same for every platform."""

    signature_header: str
    """The request header carrying the signature (`intuit-signature`)."""
    token_setting: str
    """The `Settings` field holding the secret that keys the signature."""

    def verify(self, body: bytes, signature: str, token: str) -> bool:
        """Whether `signature` signs `body` with `token` (compared in constant time)."""
        ...

    def changes(self, body: bytes) -> list[AccountChange]:
        """What the notification reports, one entry per account and change; `ParseError`
        when the body is not a notification of this platform."""
        ...


@dataclass(frozen=True)
class Platform:
    """Everything about one platform, in one place."""

    name: str
    """Short name used everywhere: in URLs, `provider` fields, the CLI."""
    title: str
    production_url: str
    """The API root of the real platform (a connection's default `base_url`)."""
    credential_fields: tuple[str, ...]
    """What a connection's credentials must hold (non-empty strings)."""
    connector: ConnectorFactory
    map_customer: CustomerMapper
    """How the write-back service turns what a write returned into a record."""
    limits: RequestLimits
    sandbox: SandboxProvider
    sandbox_credentials: SandboxCredentials
    oauth: OAuthConnect | None = None
    settings: type[ConnectionSettings] = ConnectionSettings
    """The per-connection options it accepts (`POST /connections`' `settings`)."""
    account_field: str | None = None
    """The credential naming the account at the platform (QuickBooks Online's realm id),
    stored in the clear as the connection's `remote_account_id` so that the account's
    connections can be found without decrypting credentials (change notifications name
    the realm; re-authorising a connected realm updates its connection)."""

    notifications: ChangeNotifications | None = None
    """The platform's change notifications, when it pushes any (QuickBooks Online)."""

    def remote_account_id(self, credentials: Mapping[str, Any]) -> str | None:
        """The account a connection with these credentials reaches, when the platform
        names one."""
        if self.account_field is None:
            return None
        value = credentials.get(self.account_field)
        return str(value) if value else None

    @property
    def sandbox_path(self) -> str:
        """Where the local sandbox is mounted on a ledgerbridge server."""
        return self.sandbox.mount_path
