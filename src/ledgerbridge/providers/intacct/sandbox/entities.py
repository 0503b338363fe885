"""Multi-entity companies: the entities of a company, and where a request runs in it.

What the sandbox follows, and where it comes from:

- The entity a request works in is named by the header `X-IA-API-Param-Entity` (an entity
  ID); without it the request runs at the top level. Source: Sage's REST API FAQ
  (developer.sage.com/intacct/docs/developer-portal/rest-api-faq) and every public client
  that sends it; a wrongly spelt header is ignored, as on Intacct.
- A customer created within an entity belongs to it; one created at the top level has no
  entity (Sage's OpenAPI document, `entity-ref`: "Objects created at the top level do not
  have an entity reference so the key, id, and name properties will be null").
- Records of an entity are private to it: "By default, in a multi-entity company queries
  from the top-level entity do not access data in private entities. Set `includePrivate` to
  true if you want to query data in private entities" (the same document, query service
  `filterParameters.includePrivate`). The document has no per-record `isPrivate` flag for
  customers, so every entity-owned customer is private to its entity; another entity never
  sees it, and `includePrivate` only widens what the top level sees.
- Top-level customers are shared with every entity, except those with
  `customerRestriction: rootOnly`, which the document defines as visible to "only the top
  level of the multi-entity structure".
- A company without entities is a single-entity company: every request sees every customer
  exactly as before multi-entity support existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerbridge.providers.intacct.sandbox import cache
from ledgerbridge.providers.intacct.sandbox.tables import STRING_LENGTH, customers, entities
from ledgerbridge.providers.intacct.wire import (
    CONFLICT,
    INVALID_REQUEST,
    ErrorDetail,
    IntacctError,
    bad_request,
)

ENTITY_HEADER = "X-IA-API-Param-Entity"
ENTITY_PATH = "/objects/company-config/entity"
ENTITY_ID_LENGTH = 20  # "Unique identifier of the entity. 20 characters max." (Sage's reference)
# A few entities a seeded multi-entity company starts with.
SEED_ENTITIES = (
    ("US-EAST", "United States East"),
    ("US-WEST", "United States West"),
    ("UK", "United Kingdom"),
)


def entity_href(key: int | str) -> str:
    return f"{ENTITY_PATH}/{key}"


@dataclass(frozen=True)
class Entity:
    key: int
    id: str
    name: str

    def reference(self) -> dict[str, str]:
        return {
            "key": str(self.key),
            "id": self.id,
            "name": self.name,
            "href": entity_href(self.key),
        }


@dataclass(frozen=True)
class Scope:
    """Where a request runs: the top level (`entity` None) or one entity, of a company that
    is multi-entity or not."""

    multi_entity: bool
    entity: Entity | None = None

    def visible(self, *, include_private: bool = False) -> ColumnElement[bool] | None:
        """The condition on `customers` for what this request can see; None for everything."""
        if not self.multi_entity:
            return None
        if self.entity is None:
            return None if include_private else customers.c.entity_key.is_(None)
        shared = sa.and_(
            customers.c.entity_key.is_(None),
            sa.func.coalesce(customers.c.customer_restriction, "") != "rootOnly",
        )
        return sa.or_(customers.c.entity_key == self.entity.key, shared)

    @property
    def owner_key(self) -> int | None:
        """The entity a customer created here belongs to."""
        return None if self.entity is None else self.entity.key


TOP_LEVEL = Scope(multi_entity=False)


def _entity(row: sa.Row[Any]) -> Entity:
    return Entity(key=int(row.key), id=row.id, name=row.name)


def unknown_entity(entity_id: str) -> IntacctError:
    # Sage publishes no error catalogue; this follows the envelope and the REST-1xxx pattern.
    message = f"Entity {entity_id!r} named by {ENTITY_HEADER} does not exist in this company"
    return IntacctError(
        400,
        message,
        code=INVALID_REQUEST,
        error_id="REST-1070",
        message_id="IA.INVALID_ENTITY",
        details=[ErrorDetail(message=message, target=ENTITY_HEADER, error_id="REST-1070")],
        placeholders={"ENTITY": entity_id},
    )


def is_multi_entity(connection: Connection, tenant_id: str) -> bool:
    return (
        connection.execute(
            sa.select(entities.c.key).where(entities.c.tenant_id == tenant_id).limit(1)
        ).first()
        is not None
    )


def resolve_scope(connection: Connection, tenant_id: str, entity_id: str | None) -> Scope:
    """The scope of a request from its entity header; 400 for an entity the company lacks."""
    multi_entity = is_multi_entity(connection, tenant_id)
    if entity_id is None or not entity_id.strip():
        return Scope(multi_entity=multi_entity)
    row = connection.execute(
        sa.select(entities).where(
            entities.c.tenant_id == tenant_id, entities.c.id == entity_id.strip()
        )
    ).first()
    if row is None:
        raise unknown_entity(entity_id.strip())
    return Scope(multi_entity=True, entity=_entity(row))


def get_entity(connection: Connection, tenant_id: str, key: int) -> Entity | None:
    row = connection.execute(
        sa.select(entities).where(entities.c.tenant_id == tenant_id, entities.c.key == key)
    ).first()
    return None if row is None else _entity(row)


def list_entities(connection: Connection, tenant_id: str) -> list[dict[str, str]]:
    """`{key, id, href}` of every entity, as `GET /objects/company-config/entity` lists them."""
    rows = connection.execute(
        sa.select(entities.c.key, entities.c.id)
        .where(entities.c.tenant_id == tenant_id)
        .order_by(entities.c.key)
    )
    return [{"key": str(r.key), "id": r.id, "href": entity_href(r.key)} for r in rows]


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"/{name} is required", f"/{name}", error_id="REST-1013")
    if len(value) > limit:
        raise bad_request(f"/{name} takes at most {limit} characters", f"/{name}")
    return value.strip()


def create_entity(connection: Connection, tenant_id: str, body: Any) -> dict[str, str]:
    """Add an entity from `{id, name}`; the company becomes (or stays) multi-entity."""
    if not isinstance(body, dict) or not body:
        raise IntacctError(
            400,
            "The request requires a payload",
            error_id="REST-1028",
            message_id="IA.REQUEST_REQUIRES_A_PAYLOAD",
        )
    entity_id = _text(body, "id", ENTITY_ID_LENGTH)
    name = _text(body, "name", STRING_LENGTH)
    taken = connection.execute(
        sa.select(entities.c.key).where(
            entities.c.tenant_id == tenant_id, entities.c.id == entity_id
        )
    ).first()
    if taken is not None:
        raise IntacctError(
            409,
            f"An entity with ID {entity_id} already exists",
            code=CONFLICT,
            error_id="REST-2009",
            message_id="IA.DUPLICATE_VALUE",
            placeholders={"ID": entity_id},
        )
    inserted = connection.execute(
        sa.insert(entities).values(tenant_id=tenant_id, id=entity_id, name=name)
    ).inserted_primary_key
    assert inserted is not None  # an autoincrement key always comes back
    # What the top level sees changes once a company has entities: cached counts go stale.
    cache.touch(connection, tenant_id)
    key = int(inserted[0])
    return {"key": str(key), "id": entity_id, "href": entity_href(key)}


def seed_entities(connection: Connection, tenant_id: str) -> list[dict[str, str]]:
    """Make a company multi-entity with `SEED_ENTITIES`, skipping those it already has."""
    existing = {
        row.id
        for row in connection.execute(
            sa.select(entities.c.id).where(entities.c.tenant_id == tenant_id)
        )
    }
    return [
        create_entity(connection, tenant_id, {"id": entity_id, "name": name})
        for entity_id, name in SEED_ENTITIES
        if entity_id not in existing
    ]


def delete_entities(connection: Connection, tenant_id: str | None) -> None:
    statement = sa.delete(entities)
    if tenant_id is not None:
        statement = statement.where(entities.c.tenant_id == tenant_id)
    connection.execute(statement)
