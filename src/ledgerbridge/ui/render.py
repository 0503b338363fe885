"""Rendering dashboard pages, and the one place their failures become pages: a refused
input, an unknown connection or record, a missing session. Every dashboard route is built
with `PageRoute`, so a rule that raises (the same rules the API's routes call) shows the
person a clear page with the right status, never a 500 or a JSON body."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction
from ledgerbridge.environments import list_environments
from ledgerbridge.errors import ConnectionPausedError, NeedsReauthorisationError, NotFoundError
from ledgerbridge.parsing import ParseError
from ledgerbridge.sandbox.configure import TenantChangeError
from ledgerbridge.ui.session import FormRefused, SignInRequired, read_session

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

NAV = [
    ("Connections", "/ui"),
    ("Keys", "/ui/keys"),
    ("Webhooks", "/ui/webhooks"),
    ("Sandboxes", "/ui/sandboxes"),
    ("API docs", "/docs"),
]
"""The menu."""


def when(value: datetime | None) -> str:
    """A moment as the pages show it: UTC to the second."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["when"] = when


def main_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.databases.main
    return engine


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A page, with the session's CSRF token for its forms and a flash message from the
    query string (`?done=...`) after a post redirected here."""
    session = read_session(request)
    environments: list[str] = []
    if session is not None and session.is_operator:
        with read_transaction(main_engine(request)) as conn:
            environments = [env.name for env in list_environments(conn)]
    return templates.TemplateResponse(
        request,
        template,
        {
            "csrf": session.csrf if session else "",
            "signed_in": session is not None,
            "environment": session.caller.environment if session else "",
            "environments": environments,
            "nav": [
                (title, href)
                for title, href in NAV
                if href != "/ui/sandboxes" or request.app.state.settings.sandboxes
            ],
            "done": request.query_params.get("done", "")[:200],
            **context,
        },
        status_code=status,
    )


def error_page(request: Request, status: int, message: str) -> Response:
    return page(request, "error.html", status=status, status_code=status, message=message)


def _problems(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "body"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _is_page(request: Request) -> bool:
    """A page a browser navigates to (sent on to sign in), not an asset or an event stream
    (a 401)."""
    path = request.url.path
    return (
        request.method == "GET"
        and not path.startswith("/ui/static/")
        and not path.endswith("/live")
    )


class PageRoute(APIRoute):
    """An `APIRoute` whose refusals are rendered as dashboard pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if _is_page(request):
                    return RedirectResponse("/ui/sign-in", status_code=303)
                return error_page(request, 401, "Sign in first.")
            except FormRefused as exc:
                return error_page(request, exc.status, exc.message)
            except ApiError as exc:
                return error_page(request, exc.status, exc.message)
            except NotFoundError as exc:
                return error_page(request, 404, str(exc))
            except (NeedsReauthorisationError, ConnectionPausedError) as exc:
                return error_page(request, 409, str(exc))
            except ParseError as exc:
                return error_page(request, 400, str(exc))
            except TenantChangeError as exc:
                return error_page(request, 422, str(exc))
            except (ValidationError, RequestValidationError) as exc:
                return error_page(request, 400, f"The request is invalid: {_problems(exc)}")

        return handle


def back_to_connection(request: Request, connection_id: str, done: str) -> Response:
    """After a form post: the connection's page, saying what was done."""
    return RedirectResponse(
        request.url_for("connection_page", connection_id=connection_id).include_query_params(
            done=done
        ),
        status_code=303,
    )
