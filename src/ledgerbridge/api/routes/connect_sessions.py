"""`POST /connect/sessions`: the app's backend asks for a short-lived, single-use token
that an end user's browser starts a connect flow with, without the API key
(`connect_sessions.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledgerbridge.api.deps import EngineDep, SettingsDep, WriterDep
from ledgerbridge.api.routes.authorize import public_base
from ledgerbridge.api.routes.connections import EndUserId, Metadata, metadata_tags
from ledgerbridge.connect_sessions import create_session
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.providers.registry import PLATFORMS

router = APIRouter(tags=["connections"])


def _oauth_providers() -> list[str]:
    return [name for name, platform in PLATFORMS.items() if platform.oauth is not None]


class ConnectSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_user_id: EndUserId
    allowed_providers: list[str] = Field(
        min_length=1,
        max_length=10,
        description="Platforms the end user may connect (those with an OAuth flow).",
        json_schema_extra=lambda schema: schema.update(
            items={"type": "string", "enum": list[Any](_oauth_providers())}
        ),
    )
    metadata: Metadata = Field(default_factory=dict)
    redirect_uri: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        max_length=2000,
        description="Where the browser goes after, with `connection_id` or `error`; without "
        "it the flow ends on a page of this server's.",
    )

    _tags = field_validator("metadata")(metadata_tags)

    @field_validator("allowed_providers")
    @classmethod
    def _with_oauth(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in _oauth_providers()]
        if unknown:
            raise ValueError(
                f"no connect flow for {', '.join(unknown)}; use {', '.join(_oauth_providers())}"
            )
        return list(dict.fromkeys(value))


class ConnectSessionPublic(BaseModel):
    token: str = Field(description="Single-use; hand it to the end user's browser.")
    expires_at: datetime
    connect_url: str = Field(
        description="Where the browser goes to connect the first allowed platform."
    )
    environment: str
    end_user_id: str
    allowed_providers: list[str]


@router.post(
    "/connect/sessions",
    status_code=201,
    response_model=ConnectSessionPublic,
    summary="Create a connect session for an end user's browser",
)
def post_connect_session(
    request: Request,
    body: ConnectSessionCreate,
    engine: EngineDep,
    settings: SettingsDep,
    caller: WriterDep,
) -> ConnectSessionPublic:
    with write_transaction(engine) as conn:
        session, token = create_session(
            conn,
            environment=caller.environment,
            end_user_id=body.end_user_id,
            allowed_providers=body.allowed_providers,
            metadata=body.metadata,
            redirect_uri=body.redirect_uri,
            now=utcnow(),
            ttl_s=settings.connect_session_ttl_s,
        )
    provider = session.allowed_providers[0]
    query = urlencode({"connect_session_token": token})
    return ConnectSessionPublic(
        token=token,
        expires_at=session.expires_at,
        connect_url=f"{public_base(request, settings)}/connections/{provider}/authorize?{query}",
        environment=session.environment,
        end_user_id=session.end_user_id,
        allowed_providers=session.allowed_providers,
    )
