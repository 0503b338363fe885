"""The sandbox's customer table, one column per field of the catalogue in `wire.FIELDS`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledgerbridge.db import UTCDateTime
from ledgerbridge.providers.intacct.wire import FIELDS, Field

metadata = sa.MetaData()

# A list field is stored as one string with the separator around every item
# ("\x1fDallas\x1fReno\x1f"), so `$has` is a parameterised LIKE on both databases.
LIST_SEPARATOR = "\x1f"
STRING_LENGTH = 1000
"""A text field holds at most this many characters, on both databases (checked before
writing, so PostgreSQL never refuses what SQLite would keep). Sage's OpenAPI document gives
no maxLength for customer text fields; this is the sandbox's one figure."""


def column_type(field: Field) -> sa.types.TypeEngine[Any]:
    """The SQL type of a field: money as exact integer cents, times as UTC timestamps."""
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "string": sa.String(STRING_LENGTH),
        "string_list": sa.Text(),
        "boolean": sa.Boolean(),
        "integer": sa.BigInteger(),
        "number": sa.Float(),
        "money": sa.BigInteger(),
        "decimal": sa.BigInteger(),
        "date": sa.Date(),
        "datetime": UTCDateTime(),
        "key": sa.Integer(),
    }
    return kinds[field.kind]


def _columns() -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
        sa.Column("key", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
    ]
    for field in FIELDS:
        if field.path == "key":
            continue
        columns.append(sa.Column(field.column, column_type(field), nullable=True))
    # The entity that owns the customer; empty for one created at the top level.
    columns.append(sa.Column("entity_key", sa.Integer, nullable=True))
    return columns


customers = sa.Table("sandbox_intacct_customers", metadata, *_columns(), sqlite_autoincrement=True)

# What the sync and the query service hit, always within one company.
sa.Index("ix_intacct_customers_tenant_key", customers.c.tenant_id, customers.c.key)
sa.Index("ix_intacct_customers_tenant_id", customers.c.tenant_id, customers.c.id, unique=True)
sa.Index("ix_intacct_customers_tenant_name", customers.c.tenant_id, customers.c.name)
sa.Index(
    "ix_intacct_customers_tenant_modified",
    customers.c.tenant_id,
    customers.c.audit_modified_date_time,
    customers.c.key,
)
sa.Index("ix_intacct_customers_parent", customers.c.parent_key)
sa.Index("ix_intacct_customers_tenant_entity", customers.c.tenant_id, customers.c.entity_key)

# The entities of a multi-entity company. A company with none is a single-entity company,
# where the entity header names nothing and every customer lives at the top level.
entities = sa.Table(
    "sandbox_intacct_entities",
    metadata,
    sa.Column("key", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(128), nullable=False),
    sa.Column("id", sa.String(20), nullable=False),
    sa.Column("name", sa.String(STRING_LENGTH), nullable=False),
    sqlite_autoincrement=True,
)
sa.Index("ix_intacct_entities_tenant_id", entities.c.tenant_id, entities.c.id, unique=True)

# The version of each company's customers: a random token that every write replaces in the
# same transaction. The query service remembers counts and page positions per version, so
# nothing it learned before a write is used after it (see `cache.py`).
versions = sa.Table(
    "sandbox_intacct_versions",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(32), nullable=False),
)
