"""The dashboard's session: a cookie holding the API key the person signed in with and a
CSRF token, encrypted and authenticated with the server's secret key (the credential
cipher's Fernet key), so no session table is needed and any replica can read it.

The key is checked again on every request with the API's own rule (`caller_of_key`, the
same `Caller` the bearer check makes), so a key revoked later ends its sessions at once,
and the session acts as its key: a `full` key in its own environment, the operator key
(`LEDGERBRIDGE_API_KEY`) in the environment chosen in the header (kept in the cookie,
default `dev`). A `read` key cannot sign in: every page has buttons that write.

The cookie is HTTP-only and SameSite=Lax (a link from elsewhere still opens the dashboard;
a cross-site form post carries no cookie), and every form carries the CSRF token besides.
It is `Secure` when the request came over https or `LEDGERBRIDGE_PUBLIC_URL` is https: a
browser refuses to send a Secure cookie back over plain http, so on `http://127.0.0.1`
(the demo, the tests) it cannot be Secure, and only the loopback can see it there.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from ledgerbridge.api.deps import Caller, caller_of_key
from ledgerbridge.api.errors import ApiError
from ledgerbridge.config import Settings
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.errors import ConfigurationError
from ledgerbridge.keys import Scope

COOKIE = "lb_session"
SESSION_TTL_S = 12 * 3600
"""A session lasts a working day; then the person signs in again."""
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """No valid session: pages send the browser to the sign-in form, the rest get a 401."""


class FormRefused(Exception):
    """A form post the server will not act on (no or a wrong CSRF token, too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Session:
    key: str
    csrf: str
    caller: Caller
    """Who the session acts as: its key's environment and scopes, as in the API."""

    @property
    def is_operator(self) -> bool:
        """The operator key, which chooses its environment."""
        return self.caller.key_id is None


def _cipher(request: Request) -> CredentialCipher:
    cipher: CredentialCipher = request.app.state.cipher
    return cipher


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class ReadOnlyKey(Exception):
    """A valid key whose scope is `read`: it may read through the API, not sign in."""


def session_caller(request: Request, key: str, environment: str | None = None) -> Caller | None:
    """The API's caller for `key` (in `environment` for the operator key), or None when the
    key is not valid or names no environment any more; `ReadOnlyKey` for a `read` key."""
    if not key:
        return None
    try:
        caller = caller_of_key(
            request.app.state.databases.main, _settings(request), key, environment
        )
    except ApiError:
        return None
    if caller is not None and Scope.FULL not in caller.scopes:
        raise ReadOnlyKey()
    return caller


def read_session(request: Request) -> Session | None:
    """The request's session, or None when it has none, a tampered or expired one, or one
    whose key is no longer accepted. Checked once per request."""
    if not hasattr(request.state, "ui_session"):
        request.state.ui_session = _read_session(request)
    session: Session | None = request.state.ui_session
    return session


def _read_session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        values = _cipher(request).decrypt(token, ttl=SESSION_TTL_S)
    except ConfigurationError:
        return None
    key, csrf, environment = values.get("key"), values.get("csrf"), values.get("environment")
    if not isinstance(key, str) or not isinstance(csrf, str):
        return None
    try:
        caller = session_caller(request, key, environment if isinstance(environment, str) else None)
    except ReadOnlyKey:
        return None
    return None if caller is None else Session(key=key, csrf=csrf, caller=caller)


def require_session(request: Request) -> Session:
    """Dependency of every dashboard route but sign-in."""
    session = read_session(request)
    if session is None:
        raise SignInRequired()
    return session


SessionDep = Annotated[Session, Depends(require_session)]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or _settings(request).base_url.startswith("https:")


def start_session(
    request: Request, response: Response, key: str, environment: str | None = None
) -> None:
    """Set the session cookie; `environment` is the operator key's choice."""
    values = {"key": key, "csrf": secrets.token_urlsafe(24)}
    if environment is not None:
        values["environment"] = environment
    token = _cipher(request).encrypt(values)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_TTL_S,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=_secure(request), httponly=True, samesite="lax")


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """A url-encoded form's fields in order, a repeated name (checkboxes) once per value."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused(413, f"A form takes at most {MAX_FORM_BYTES // 1024} KB.")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise FormRefused(400, "The form is not UTF-8 text.") from None
    return parse_qsl(text, keep_blank_values=True)


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the last of a repeated name)."""
    return dict(await read_pairs(request))


async def checked_pairs(request: Request, session: Session) -> list[tuple[str, str]]:
    """A form post's fields, in order, once its CSRF token matches the session's."""
    pairs = await read_pairs(request)
    sent = next((value for name, value in pairs if name == "csrf"), "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise FormRefused(403, "The form's security token is missing or stale: reload the page.")
    return [(name, value) for name, value in pairs if name != "csrf"]


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """A form post's fields (the last of a repeated name) once its CSRF token matches."""
    return dict(await checked_pairs(request, session))
