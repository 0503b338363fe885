"""The base every connector builds on: the constructor the registry calls, and the
request pipeline (`providers/client.py`) configured from a few declarations.

A platform's connector declares `provider`, `limits` and its `classify`, supplies its
`auth()` flow (and, where it differs, `api_root`, `timeout`, default `headers` and what
to tell a person when the credentials are refused), and then only pages and maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NotRequired, TypedDict

import httpx

from ledgerbridge.providers.base import (
    AuthError,
    ConnectorSettings,
    CredentialStore,
    StoredHierarchy,
)
from ledgerbridge.providers.client import ProviderClient, RequestLimits


class Connection(TypedDict):
    """What the registry builds every connector from (`ConnectorFactory`'s arguments)."""

    base_url: str
    credentials: CredentialStore
    http: httpx.AsyncClient
    settings: ConnectorSettings
    stored: NotRequired[StoredHierarchy | None]
    """The connection's stored records, where a connector must consult them (the sync
    engine gives them; a connector built without them reads the platform only)."""


class HttpConnector:
    """One connection of one platform over HTTP (subclassed once per platform)."""

    provider: ClassVar[str]
    limits: ClassVar[RequestLimits]
    """The platform's own limits; the connection's settings may override them."""
    timeout: ClassVar[httpx.Timeout | None] = None
    """Per request; None keeps the shared client's."""
    headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(
        self,
        *,
        base_url: str,
        credentials: CredentialStore,
        http: httpx.AsyncClient,
        settings: ConnectorSettings,
        stored: StoredHierarchy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.stored = stored
        self.credentials = credentials
        self.http = http
        self.settings = settings
        self.client = ProviderClient(
            provider=self.provider,
            http=http,
            base_url=self.api_root(),
            classify=self.classify,
            retry=settings.retry,
            auth=self.auth(),
            budget=self.limits.budget(settings),
            headers=self.headers,
            timeout=self.timeout,
            reauthorise=self._reauthorise,
        )

    def api_root(self) -> str:
        """What request paths are appended to."""
        return self.base_url

    def auth(self) -> httpx.Auth:
        """The platform's authentication, as an httpx auth flow."""
        raise NotImplementedError

    def classify(self, response: httpx.Response) -> Any:
        """The platform's one reading of an answer: its body, or an error of the tree."""
        raise NotImplementedError

    def reauthorise_message(self, refused: AuthError) -> str | None:
        """What a person must do when the platform refused the credentials (stored on the
        connection, which stops syncing); None leaves the connection as it is."""
        return None

    async def _reauthorise(self, refused: AuthError) -> None:
        message = self.reauthorise_message(refused)
        if message is not None:
            await self.credentials.needs_reauthorisation(message)
