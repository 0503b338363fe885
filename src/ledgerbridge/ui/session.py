"""The dashboard's session: a cookie holding the API key the person signed in with and a
CSRF token, encrypted and authenticated with the server's secret key (the credential
cipher's Fernet key), so no session table is needed and any replica can read it.

The key is checked again on every request with the API's own rule (`accepts_api_key`), so
a key revoked later ends its sessions at once. The cookie is HTTP-only and SameSite=Lax
(a link from elsewhere still opens the dashboard; a cross-site form post carries no
cookie), and every form carries the CSRF token besides. It is `Secure` when the request
came over https or `LEDGERBRIDGE_PUBLIC_URL` is https: a browser refuses to send a
Secure cookie back over plain http, so on `http://127.0.0.1` (the demo, the tests) it
cannot be Secure, and only the loopback can see it there.
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

from ledgerbridge.config import Settings
from ledgerbridge.crypto import CredentialCipher
from ledgerbridge.errors import ConfigurationError
from ledgerbridge.keys import accepts_api_key

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


def _cipher(request: Request) -> CredentialCipher:
    cipher: CredentialCipher = request.app.state.cipher
    return cipher


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def key_accepted(request: Request, key: str) -> bool:
    """The API's rule for keys, asked for the dashboard."""
    return accepts_api_key(request.app.state.databases.main, _settings(request), key)


def read_session(request: Request) -> Session | None:
    """The request's session, or None when it has none, a tampered or expired one, or one
    whose key is no longer accepted."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        values = _cipher(request).decrypt(token, ttl=SESSION_TTL_S)
    except ConfigurationError:
        return None
    key, csrf = values.get("key"), values.get("csrf")
    if not isinstance(key, str) or not isinstance(csrf, str) or not key_accepted(request, key):
        return None
    return Session(key=key, csrf=csrf)


def require_session(request: Request) -> Session:
    """Dependency of every dashboard route but sign-in."""
    session = read_session(request)
    if session is None:
        raise SignInRequired()
    return session


SessionDep = Annotated[Session, Depends(require_session)]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or _settings(request).base_url.startswith("https:")


def start_session(request: Request, response: Response, key: str) -> None:
    token = _cipher(request).encrypt({"key": key, "csrf": secrets.token_urlsafe(24)})
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


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the last of a repeated name)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused(413, f"A form takes at most {MAX_FORM_BYTES // 1024} KB.")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise FormRefused(400, "The form is not UTF-8 text.") from None
    return dict(parse_qsl(text, keep_blank_values=True))


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """A form post's fields once its CSRF token matches the session's."""
    form = await read_form(request)
    sent = form.pop("csrf", "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise FormRefused(403, "The form's security token is missing or stale: reload the page.")
    return form
