"""Realistic, reproducible customers for a sandbox company.

Faker fills pools of names, companies and addresses once; each customer is then drawn
from the pools with a seeded `random.Random`, which keeps a million customers fast and the
same seed always gives the same company.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledgerbridge.db import is_sqlite, write_transaction
from ledgerbridge.providers.intacct.sandbox import cache
from ledgerbridge.providers.intacct.sandbox.tables import LIST_SEPARATOR, customers
from ledgerbridge.sandbox.fake import seeded_faker

BATCH = 5000
_POOL = 500
CUSTOMER_TYPES = [("1", "Direct"), ("2", "Reseller"), ("3", "Government"), ("4", "Education")]
TERMS = [("10", "Net 15"), ("11", "Net 30"), ("12", "Net 60"), ("13", "Due on receipt")]
CURRENCIES = ["USD"] * 14 + ["CAD", "GBP", "EUR", "AUD", "MXN", "JPY"]
CREDIT_LIMITS = [None, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000]
LOCATIONS = ["Dallas", "Santa Fe", "Las Vegas", "Boston", "Seattle"]


class _Pools:
    """Names, companies and addresses drawn by Faker, read-only once built."""

    def __init__(self, seed: int) -> None:
        fake = seeded_faker(seed)
        self.first = tuple(fake.first_name() for _ in range(_POOL))
        self.last = tuple(fake.last_name() for _ in range(_POOL))
        self.company = tuple(fake.company() for _ in range(_POOL))
        self.street = tuple(fake.street_address() for _ in range(_POOL))
        self.city = tuple((fake.city(), fake.state_abbr(), fake.zipcode()) for _ in range(_POOL))
        self.phone = tuple(fake.numerify("(###) ###-####") for _ in range(_POOL))
        self.notes = tuple(fake.sentence(nb_words=8) for _ in range(_POOL))


@functools.lru_cache(maxsize=8)
def _pools(seed: int) -> _Pools:
    """Built once per process and seed, whatever the number of customers: a process often
    seeds the same way again (the test suite does in almost every test)."""
    return _Pools(seed)


def customer_rows(
    tenant_id: str, first_key: int, count: int, seed: int, now: datetime
) -> Iterator[dict[str, Any]]:
    """`count` rows with keys from `first_key`; about one in six is a child customer."""
    rng = random.Random(seed)
    pools = _pools(seed)
    top_level: list[tuple[int, str]] = []
    for key in range(first_key, first_key + count):
        first, last = rng.choice(pools.first), rng.choice(pools.last)
        company = rng.choice(pools.company)
        city, state, post_code = rng.choice(pools.city)
        created = now - timedelta(seconds=rng.randrange(730 * 86400))
        modified = created + (now - created) * rng.random()
        parent_key = None
        if top_level and rng.random() < 0.16:
            parent_key = rng.choice(top_level)[0]
        else:
            top_level.append((key, company))
        type_key, type_id = rng.choice(CUSTOMER_TYPES)
        term_key, term_id = rng.choice(TERMS)
        roll = rng.random()
        status = "active" if roll < 0.85 else "inactive" if roll < 0.95 else "activeNonPosting"
        owes = rng.random() < 0.6
        domain = "".join(ch for ch in company.lower() if ch.isalnum())[:20] or "example"
        yield {
            "key": key,
            "tenant_id": tenant_id,
            "id": f"C-{key:06d}",
            "name": company if parent_key is None else f"{company} ({city})",
            "status": status,
            "customer_type_key": type_key,
            "customer_type_id": type_id,
            "parent_key": parent_key,
            "term_key": term_key,
            "term_id": term_id,
            "tax_id": f"{rng.randrange(10, 99)}-{rng.randrange(1000000, 9999999)}",
            "credit_limit": rng.choice(CREDIT_LIMITS),
            "is_on_hold": rng.random() < 0.05,
            "currency": rng.choice(CURRENCIES),
            "total_due": rng.randrange(1, 5_000_000) if owes else 0,
            "email_opt_in": rng.random() < 0.5,
            "enable_online_achpayment": True,
            "enable_online_card_payment": True,
            "is_one_time_use": False,
            "override_price_list": "customer",
            "delivery_options": rng.choice(["print", "email", "both"]),
            "notes": rng.choice(pools.notes) if rng.random() < 0.3 else None,
            "restricted_locations": (
                LIST_SEPARATOR + LIST_SEPARATOR.join(rng.sample(LOCATIONS, 2)) + LIST_SEPARATOR
                if rng.random() < 0.1
                else None
            ),
            "contacts_default_id": f"{last}, {first} ({key})",
            "contacts_default_first_name": first,
            "contacts_default_last_name": last,
            "contacts_default_middle_name": None,
            "contacts_default_prefix": rng.choice(["Mr.", "Ms.", "Dr.", None]),
            "contacts_default_print_as": f"{first} {last}",
            "contacts_default_company_name": company,
            "contacts_default_email1": f"{first.lower()}.{last.lower()}@{domain}.com",
            "contacts_default_phone1": rng.choice(pools.phone),
            "contacts_default_mobile": rng.choice(pools.phone) if rng.random() < 0.4 else None,
            "contacts_default_mailing_address_address_line1": rng.choice(pools.street),
            "contacts_default_mailing_address_city": city,
            "contacts_default_mailing_address_state": state,
            "contacts_default_mailing_address_post_code": post_code,
            "contacts_default_mailing_address_country": "United States",
            "contacts_default_tax_is_taxable": rng.random() < 0.7,
            "last_invoice_created_date": (modified - timedelta(days=rng.randrange(30))).date()
            if owes
            else None,
            "audit_created_date_time": created,
            "audit_modified_date_time": modified,
            "audit_created_by": "sandbox",
            "audit_modified_by": "sandbox",
        }


def seed_customers(engine: Engine, tenant_id: str, count: int, seed: int, now: datetime) -> int:
    """Insert `count` customers in batches; the number inserted."""
    with write_transaction(engine) as connection:
        highest = connection.execute(sa.select(sa.func.max(customers.c.key))).scalar()
    first_key = (highest or 0) + 1
    batch: list[dict[str, Any]] = []
    for row in customer_rows(tenant_id, first_key, count, seed, now):
        batch.append(row)
        if len(batch) == BATCH:
            _insert(engine, tenant_id, batch)
            batch = []
    if batch:
        _insert(engine, tenant_id, batch)
    if not is_sqlite(engine) and count:
        # Explicit keys bypass PostgreSQL's sequence; move it past them.
        with write_transaction(engine) as connection:
            connection.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('sandbox_intacct_customers', 'key'), "
                    "(SELECT max(key) FROM sandbox_intacct_customers))"
                )
            )
    return count


def _insert(engine: Engine, tenant_id: str, batch: list[dict[str, Any]]) -> None:
    with write_transaction(engine) as connection:
        connection.execute(sa.insert(customers), batch)
        cache.touch(connection, tenant_id)
