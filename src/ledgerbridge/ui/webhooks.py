"""The webhooks page: the environment's subscriptions (url, events, enabled or disabled
with the reason), a form to subscribe (the signing secret shown once, on the page that
answers the form), enable/disable and delete; and a subscription's page with its
deliveries (status, attempts, latency, the receiver's answer) and a redeliver button.
Through the functions `/webhooks` calls (`webhooks/subscriptions.py`,
`webhooks/deliveries.py`), never over HTTP."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ledgerbridge.api.errors import ApiError
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.parsing import parse_int
from ledgerbridge.ui.render import PageRoute, main_engine, page
from ledgerbridge.ui.session import (
    Session,
    SessionDep,
    checked_form,
    checked_pairs,
    require_session,
)
from ledgerbridge.webhooks import deliveries, subscriptions
from ledgerbridge.webhooks.events import EVENT_TYPES

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(require_session)]
)

DELIVERIES_SHOWN = 50
MAX_DESCRIPTION = 500


def _webhooks_page(
    request: Request, session: Session, status: int = 200, **extra: object
) -> Response:
    with read_transaction(main_engine(request)) as conn:
        found = subscriptions.list_subscriptions(conn, environment=session.caller.environment)
    return page(
        request, "webhooks.html", status=status, subscriptions=found, events=EVENT_TYPES, **extra
    )


def _to(request: Request, name: str, done: str, **params: str) -> Response:
    return RedirectResponse(
        request.url_for(name, **params).include_query_params(done=done), status_code=303
    )


@router.get("/ui/webhooks")
def webhooks_page(request: Request, session: SessionDep) -> Response:
    return _webhooks_page(request, session)


@router.post("/ui/webhooks")
async def subscribe(request: Request, session: SessionDep) -> Response:
    """Answers with the page itself (no redirect): the secret is in this answer only."""
    pairs = await checked_pairs(request, session)
    form = dict(pairs)
    events = [value for name, value in pairs if name == "events"]
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise ApiError(
            400, "invalid_body", f"A description of at most {MAX_DESCRIPTION} characters."
        )
    try:
        with write_transaction(main_engine(request)) as conn:
            created, secret = subscriptions.create_subscription(
                conn,
                request.app.state.cipher,
                environment=session.caller.environment,
                url=form.get("url", ""),
                events=events,
                include_empty_syncs=form.get("include_empty_syncs") == "true",
                description=description,
                now=utcnow(),
            )
    except ValueError as exc:
        raise ApiError(400, "invalid_body", f"The subscription is not valid: {exc}.") from None
    response = _webhooks_page(request, session, status=201, created=created, secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/ui/webhooks/{webhook_id}/enabled")
async def enable(request: Request, session: SessionDep, webhook_id: str) -> Response:
    """Enable (`enabled=true`, pending deliveries resume) or disable (`enabled=false`)."""
    form = await checked_form(request, session)
    enabled = form.get("enabled") == "true"
    with write_transaction(main_engine(request)) as conn:
        subscriptions.update_subscription(
            conn,
            webhook_id,
            environment=session.caller.environment,
            changes={"enabled": enabled},
            now=utcnow(),
        )
    done = f"Webhook {webhook_id} {'enabled' if enabled else 'disabled'}."
    return _to(request, "webhook_page", done, webhook_id=webhook_id)


@router.post("/ui/webhooks/{webhook_id}/delete")
async def unsubscribe(request: Request, session: SessionDep, webhook_id: str) -> Response:
    form = await checked_form(request, session)
    if form.get("confirm") != "yes":
        raise ApiError(400, "not_confirmed", "Tick the box to confirm the delete.")
    with write_transaction(main_engine(request)) as conn:
        subscriptions.delete_subscription(conn, webhook_id, environment=session.caller.environment)
    return _to(request, "webhooks_page", f"Webhook {webhook_id} deleted with its deliveries.")


@router.get("/ui/webhooks/{webhook_id}")
def webhook_page(request: Request, session: SessionDep, webhook_id: str) -> Response:
    environment = session.caller.environment
    with read_transaction(main_engine(request)) as conn:
        subscription = subscriptions.get_subscription(conn, webhook_id, environment=environment)
        found = deliveries.list_deliveries(
            conn, webhook_id, environment=environment, limit=DELIVERIES_SHOWN
        )
    return page(request, "webhook.html", subscription=subscription, deliveries=found)


@router.post("/ui/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, session: SessionDep, webhook_id: str, delivery_id: str
) -> Response:
    await checked_form(request, session)
    number = parse_int(delivery_id, minimum=1, maximum=2**63 - 1, what="delivery id")
    with write_transaction(main_engine(request)) as conn:
        again = deliveries.redeliver(
            conn, webhook_id, number, environment=session.caller.environment, now=utcnow()
        )
    done = f"Delivery {number} sent again as delivery {again.id}."
    return _to(request, "webhook_page", done, webhook_id=webhook_id)
