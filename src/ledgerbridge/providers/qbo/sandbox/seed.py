"""Realistic seed customers, deterministic for a given seed: people and companies,
sub-customers and jobs up to three levels, about 10% inactive, opening balances, several
currencies, addresses, phones, e-mails, notes, created and updated over two years.

Faker fills pools of names and addresses once; rows are then drawn from the pools with a
seeded `random.Random` and inserted in batches (executemany), so a million rows is quick.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from faker import Faker
from sqlalchemy.engine import Engine

from ledgerbridge.db import write_transaction
from ledgerbridge.providers.qbo import wire
from ledgerbridge.providers.qbo.sandbox import store
from ledgerbridge.providers.qbo.sandbox.notifications import Change, record_changes
from ledgerbridge.providers.qbo.sandbox.tables import customers
from ledgerbridge.sandbox.fake import seeded_faker

BATCH = 5_000
POOL = 2_000
SPAN = timedelta(days=730)
_CURRENCIES = ["USD"] * 16 + ["CAD", "EUR", "GBP", "AUD"]
_JOB_WORDS = ["Remodel", "Project", "Install", "Repair", "Office", "Warehouse", "Phase 2"]


class _Pools:
    """Names, addresses and the like drawn by Faker, read-only once built."""

    def __init__(self, faker: Faker) -> None:
        self.given = tuple(faker.first_name()[:25] for _ in range(POOL))
        self.family = tuple(faker.last_name()[:15] for _ in range(POOL))
        self.company = tuple(faker.company()[:34] for _ in range(POOL))
        self.street = tuple(faker.street_address() for _ in range(POOL))
        self.city = tuple(faker.city() for _ in range(POOL))
        self.state = tuple(faker.state_abbr() for _ in range(POOL))
        self.postcode = tuple(faker.postcode() for _ in range(POOL))
        self.phone = tuple(faker.numerify("(###) 555-####") for _ in range(POOL))
        self.domain = tuple(faker.domain_name() for _ in range(POOL))
        self.note = tuple(faker.sentence(nb_words=8) for _ in range(POOL))


@functools.lru_cache(maxsize=8)
def _pools(faker_seed: int) -> _Pools:
    """The pools for a Faker seed, built once per process, whatever the number of
    customers (0.1 s of Faker): a process often seeds the same way again (the test suite
    does in almost every test)."""
    return _Pools(seeded_faker(faker_seed))


def _unique(name: str, taken: set[str], rng: random.Random) -> str:
    name = name[:41]
    candidate = name
    while candidate.lower() in taken:
        suffix = f" {rng.randint(2, 999_999)}"
        candidate = name[: 41 - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def _existing_names(engine: Engine, realm_id: str) -> set[str]:
    with engine.connect() as connection:
        return {
            name
            for (name,) in connection.execute(
                sa.select(customers.c.display_name_lower).where(customers.c.realm_id == realm_id)
            )
        }


def _rows(
    realm_id: str,
    first_id: int,
    count: int,
    rng: random.Random,
    pools: _Pools,
    taken: set[str],
    now: datetime,
) -> Iterator[dict[str, Any]]:
    starts = sorted(rng.random() for _ in range(count))
    # (id, level, fqn, currency, active) of customers that may take sub-customers.
    parents: list[tuple[int, int, str, str]] = []
    for index, fraction in enumerate(starts):
        customer_id = first_id + index
        created = now - SPAN + SPAN * fraction
        updated = created + (now - created) * (rng.random() ** 3)
        given, family = rng.choice(pools.given), rng.choice(pools.family)
        parent = rng.choice(parents) if parents and rng.random() < 0.15 else None
        is_company = rng.random() < 0.45
        body: dict[str, Any] = {"GivenName": given, "FamilyName": family}
        if parent is not None:
            base = f"{rng.choice(pools.street).split(' ', 1)[-1][:24]} {rng.choice(_JOB_WORDS)}"
            currency = parent[3]
        else:
            base = rng.choice(pools.company) if is_company else f"{given} {family}"
            currency = rng.choice(_CURRENCIES)
        if is_company and parent is None:
            body["CompanyName"] = base
        name = _unique(base, taken, rng)
        address = {
            "Id": str(customer_id),
            "Line1": rng.choice(pools.street),
            "City": rng.choice(pools.city),
            "CountrySubDivisionCode": rng.choice(pools.state),
            "PostalCode": rng.choice(pools.postcode),
        }
        body["BillAddr"] = address
        if rng.random() < 0.6:
            body["ShipAddr"] = address
        body["PrimaryPhone"] = {"FreeFormNumber": rng.choice(pools.phone)}
        if rng.random() < 0.2:
            body["Mobile"] = {"FreeFormNumber": rng.choice(pools.phone)}
        local = f"{given}.{family}".lower().replace(" ", "").replace("'", "")
        body["PrimaryEmailAddr"] = {"Address": f"{local}@{rng.choice(pools.domain)}"}
        if rng.random() < 0.15:
            body["Notes"] = rng.choice(pools.note)
        body["Taxable"] = rng.random() < 0.5
        body["CurrencyRef"] = {"value": currency, "name": wire.CURRENCY_NAMES[currency]}
        if parent is not None:
            body["BillWithParent"] = rng.random() < 0.5
        balance = rng.randint(-50_000, 900_000) if rng.random() < 0.4 else 0
        # Only customers without an open balance are inactive (QuickBooks refuses the rest),
        # and inactive ones never take sub-customers.
        active = not (balance == 0 and rng.random() < 0.17)
        level = 0 if parent is None else parent[1] + 1
        fqn = name if parent is None else f"{parent[2]}:{name}"
        if active and level < 2:
            parents.append((customer_id, level, fqn, currency))
        yield {
            "realm_id": realm_id,
            "id": customer_id,
            "sync_token": 0 if updated == created else rng.randint(1, 5),
            "active": active,
            "job": parent is not None,
            "parent_id": None if parent is None else parent[0],
            "level": level,
            "display_name": name,
            "display_name_lower": name.lower(),
            "fully_qualified_name": fqn,
            "given_name": given,
            "middle_name": None,
            "family_name": family,
            "company_name": body.get("CompanyName"),
            "primary_email": body["PrimaryEmailAddr"]["Address"],
            "balance_cents": balance,
            "balance_with_jobs_cents": balance,
            "v4id": "002098" + f"{rng.getrandbits(128):032x}",
            "create_time": store.to_second(created),
            "last_updated_time": store.to_second(updated),
            "body": body,
        }


def seed_customers(
    engine: Engine, realm_id: str, count: int, seed: int | None, now: datetime
) -> int:
    """Insert `count` customers into the realm (which must exist); returns how many."""
    if count <= 0:
        return 0
    rng = random.Random(seed)
    # Unseeded, the customers are drawn at random from the pools of seed 0: Faker's pools
    # are filled once per process, not on every call.
    pools = _pools(seed if seed is not None else 0)
    taken = _existing_names(engine, realm_id)
    # Anchored on the day, so the same seed gives the same data all day long.
    anchor = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with write_transaction(engine) as connection:
        first_id = store.allocate_ids(connection, realm_id, count)
        rows = _rows(realm_id, first_id, count, rng, pools, taken, anchor)
        parent_of: dict[int, int] = {}
        roll_up: dict[int, int] = {}
        batch: list[dict[str, Any]] = []
        for row in rows:
            if row["parent_id"] is not None:
                parent_of[row["id"]] = row["parent_id"]
                ancestor: int | None = row["parent_id"]
                while ancestor is not None and row["balance_cents"]:
                    roll_up[ancestor] = roll_up.get(ancestor, 0) + row["balance_cents"]
                    ancestor = parent_of.get(ancestor)
            batch.append(row)
            if len(batch) == BATCH:
                connection.execute(sa.insert(customers), batch)
                batch = []
        if batch:
            connection.execute(sa.insert(customers), batch)
        # BalanceWithJobs: each ancestor gets its descendants' opening balances, in one
        # executemany once every row is in (rows stream, so a parent is written first).
        updates = [{"r": realm_id, "i": k, "d": v} for k, v in roll_up.items() if v]
        for start in range(0, len(updates), BATCH):
            connection.execute(
                sa.update(customers)
                .where(
                    customers.c.realm_id == sa.bindparam("r"), customers.c.id == sa.bindparam("i")
                )
                .values(
                    balance_with_jobs_cents=customers.c.balance_with_jobs_cents + sa.bindparam("d")
                ),
                updates[start : start + BATCH],
            )
        created = [Change(first_id + offset, "Create") for offset in range(count)]
        record_changes(connection, realm_id, created, now)
    return count
