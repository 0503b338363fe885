"""`/webhooks`: subscriptions to the events ledgerbridge sends to the user's app, and their
deliveries. The rules live in `webhooks/`; these routes only translate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from ledgerbridge.api.deps import WRITE, CallerEnvironment, CipherDep, EngineDep
from ledgerbridge.db import read_transaction, utcnow, write_transaction
from ledgerbridge.parsing import INT64_MAX
from ledgerbridge.webhooks import deliveries, subscriptions
from ledgerbridge.webhooks.deliveries import Delivery
from ledgerbridge.webhooks.events import EVENT_TYPES
from ledgerbridge.webhooks.subscriptions import MAX_URL_LENGTH, Subscription

router = APIRouter(tags=["webhooks"])

WebhookId = Annotated[str, Path(description="The subscription's id (`wh_...`).", max_length=64)]
DeliveryId = Annotated[int, Path(description="The delivery's id.", ge=1, le=INT64_MAX)]

_URL = Field(
    description="Where to POST events: an http:// or https:// URL of your app.",
    min_length=1,
    max_length=MAX_URL_LENGTH,
)
_EVENTS = Field(
    description="The events to receive.",
    min_length=1,
    json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}},
)
_EMPTY = (
    "Also send `sync.succeeded` for runs that changed nothing (default: only runs that "
    "added, updated or deleted something)."
)


class _Checked(BaseModel):
    """URL and event checks shared by creation and change (`webhooks/subscriptions.py`)."""

    @field_validator("url", check_fields=False)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else subscriptions.check_url(value)

    @field_validator("events", check_fields=False)
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else subscriptions.check_events(value)


class WebhookCreate(_Checked):
    model_config = ConfigDict(extra="forbid")

    url: str = _URL
    events: list[str] = _EVENTS
    include_empty_syncs: bool = Field(default=False, description=_EMPTY)
    description: str = Field(
        default="", description="What the subscription is for, for people.", max_length=500
    )


class WebhookUpdate(_Checked):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    events: list[str] | None = Field(default=None, min_length=1)
    include_empty_syncs: bool | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None,
        description="false stops deliveries; true resumes them (and clears `disabled_reason`).",
    )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    include_empty_syncs: bool
    description: str
    enabled: bool = Field(description="false once disabled, by you or after failing too long.")
    disabled_reason: str | None = Field(description="Why it was disabled.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> WebhookPublic:
        fields = subscription.__dict__
        return cls(**{k: v for k, v in fields.items() if k in cls.model_fields})


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(
        description="The signing secret (`whsec_...`): shown in this answer only. Keep it to "
        "verify the `Ledgerbridge-Signature` header."
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]


class AttemptPublic(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int
    response_snippet: str | None = Field(description="The start of the receiver's answer.")
    error: str | None = Field(description="What failed (a time-out, a refused connection).")


class DeliveryPublic(BaseModel):
    id: int
    event_id: str = Field(description="Stable across attempts and redeliveries.")
    event_type: str
    connection_id: str | None
    status: str = Field(description="`pending`, `succeeded` or `failed` (retries ran out).")
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None
    attempts: list[AttemptPublic]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryPublic:
        fields: dict[str, Any] = dict(delivery.__dict__)
        fields["attempts"] = [AttemptPublic(**a.__dict__) for a in delivery.attempts]
        return cls(**{k: v for k, v in fields.items() if k in cls.model_fields})


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookWithSecret,
    summary="Subscribe a URL to events (the answer holds the signing secret, once)",
    dependencies=[WRITE],
)
def create_webhook(
    body: WebhookCreate, engine: EngineDep, cipher: CipherDep, environment: CallerEnvironment
) -> WebhookWithSecret:
    with write_transaction(engine) as conn:
        created, secret = subscriptions.create_subscription(
            conn,
            cipher,
            environment=environment,
            url=body.url,
            events=body.events,
            include_empty_syncs=body.include_empty_syncs,
            description=body.description,
            now=utcnow(),
        )
    return WebhookWithSecret(**WebhookPublic.of(created).model_dump(), secret=secret)


@router.get("/webhooks", response_model=WebhookList, summary="Every webhook subscription")
def list_webhooks(engine: EngineDep, environment: CallerEnvironment) -> WebhookList:
    with read_transaction(engine) as conn:
        found = subscriptions.list_subscriptions(conn, environment=environment)
    return WebhookList(webhooks=[WebhookPublic.of(s) for s in found])


@router.get("/webhooks/{webhook_id}", response_model=WebhookPublic)
def get_webhook(
    webhook_id: WebhookId, engine: EngineDep, environment: CallerEnvironment
) -> WebhookPublic:
    with read_transaction(engine) as conn:
        return WebhookPublic.of(
            subscriptions.get_subscription(conn, webhook_id, environment=environment)
        )


@router.patch("/webhooks/{webhook_id}", response_model=WebhookPublic, dependencies=[WRITE])
def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, engine: EngineDep, environment: CallerEnvironment
) -> WebhookPublic:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    with write_transaction(engine) as conn:
        return WebhookPublic.of(
            subscriptions.update_subscription(
                conn, webhook_id, environment=environment, changes=changes, now=utcnow()
            )
        )


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Replace the signing secret (the answer holds the new one, once)",
    dependencies=[WRITE],
)
def rotate_webhook_secret(
    webhook_id: WebhookId, engine: EngineDep, cipher: CipherDep, environment: CallerEnvironment
) -> WebhookWithSecret:
    with write_transaction(engine) as conn:
        rotated, secret = subscriptions.rotate_secret(
            conn, cipher, webhook_id, environment=environment, now=utcnow()
        )
    return WebhookWithSecret(**WebhookPublic.of(rotated).model_dump(), secret=secret)


@router.delete("/webhooks/{webhook_id}", status_code=204, dependencies=[WRITE])
def delete_webhook(
    webhook_id: WebhookId, engine: EngineDep, environment: CallerEnvironment
) -> Response:
    with write_transaction(engine) as conn:
        subscriptions.delete_subscription(conn, webhook_id, environment=environment)
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=DeliveryList,
    summary="The subscription's deliveries, newest first, with every attempt",
)
def list_webhook_deliveries(
    webhook_id: WebhookId,
    engine: EngineDep,
    environment: CallerEnvironment,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    with read_transaction(engine) as conn:
        found = deliveries.list_deliveries(conn, webhook_id, environment=environment, limit=limit)
    return DeliveryList(deliveries=[DeliveryPublic.of(d) for d in found])


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryPublic,
    summary="Send a delivery's event again (same event id), as a new delivery",
    dependencies=[WRITE],
)
def redeliver_webhook(
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    engine: EngineDep,
    environment: CallerEnvironment,
) -> DeliveryPublic:
    with write_transaction(engine) as conn:
        return DeliveryPublic.of(
            deliveries.redeliver(
                conn, webhook_id, delivery_id, environment=environment, now=utcnow()
            )
        )
