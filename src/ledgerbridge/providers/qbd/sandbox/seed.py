"""Realistic QuickBooks Desktop company files: people and companies, jobs (and sub-jobs) with
their status and dates, inactive customers, balances rolled up into parents' totals, foreign
currencies, custom fields, additional contacts and alternate shipping addresses.

Deterministic for a given seed, so tests and demos see the same company every time. Faker
fills pools of names, companies and addresses once per process and seed (as the other
sandboxes' seeders do); each customer is then drawn from them, at a few microseconds
instead of a millisecond of Faker.
"""

from __future__ import annotations

import functools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from faker import Faker
from sqlalchemy.engine import Connection

from ledgerbridge.providers.qbd import wire
from ledgerbridge.providers.qbd.sandbox import store
from ledgerbridge.providers.qbd.sandbox.catalog import CATALOG, HOME_CURRENCY_ID, reference
from ledgerbridge.providers.qbd.sandbox.tables import customers
from ledgerbridge.sandbox.fake import seeded_faker

_JOB_WORDS = ("Remodel", "Website Redesign", "Office Fit-out", "Annual Audit", "Roof Repair",
              "Kitchen", "Landscaping", "IT Support", "Phase 2", "Warehouse Expansion")  # fmt: skip
_CUSTOM_FIELDS = (("Customer Rating", "string_1024_type", ("Premium", "Standard", "Watch")),
                  ("Region", "string_255_type", ("West", "East", "Central")))  # fmt: skip


def _pick(rng: random.Random, body_field: str) -> dict[str, str]:
    entry_id = rng.choice(list(CATALOG[body_field].entries))
    found = reference(body_field, entry_id)
    assert found is not None
    return found


_POOL = 500


class _Pools:
    """Names, addresses and the like drawn by Faker, read-only once built."""

    def __init__(self, fake: Faker) -> None:
        self.first = tuple(fake.first_name()[:25] for _ in range(_POOL))
        self.last = tuple(fake.last_name()[:25] for _ in range(_POOL))
        self.company = tuple(fake.company()[:41] for _ in range(_POOL))
        self.job = tuple(fake.job()[:41] for _ in range(_POOL))
        self.street = tuple(fake.street_address()[:41] for _ in range(_POOL))
        self.secondary = tuple(fake.secondary_address()[:41] for _ in range(_POOL))
        self.city = tuple(
            (fake.city()[:31], fake.state_abbr(), fake.postcode()) for _ in range(_POOL)
        )
        self.email = tuple(fake.email() for _ in range(_POOL))
        self.sentence = tuple(fake.sentence() for _ in range(_POOL))


@functools.lru_cache(maxsize=8)
def _pools(faker_seed: int) -> _Pools:
    """The pools for a Faker seed, built once per process (the test suite seeds the same
    way in many tests)."""
    return _Pools(seeded_faker(faker_seed))


def _phone(rng: random.Random) -> str:
    return f"{rng.randrange(200, 1000)}-{rng.randrange(1000):03}-{rng.randrange(10_000):04}"


def _address(pools: _Pools, rng: random.Random, note: str | None = None) -> dict[str, Any]:
    city, state, postal_code = rng.choice(pools.city)
    return {
        "line1": rng.choice(pools.street),
        "line2": rng.choice(pools.secondary) if rng.random() < 0.3 else None,
        "line3": None,
        "line4": None,
        "line5": None,
        "city": city,
        "state": state,
        "postalCode": postal_code,
        "country": "US",
        "note": note,
    }


def _unique(name: str, taken: set[str], prefix: str) -> str:
    candidate, number = name[: wire.NAME_MAX], 2
    while (prefix + candidate).lower() in taken:
        suffix = f" {number}"
        candidate, number = name[: wire.NAME_MAX - len(suffix)] + suffix, number + 1
    taken.add((prefix + candidate).lower())
    return candidate


class _Seeder:
    def __init__(self, seed: int | None, now: datetime, counter: int, taken: set[str]) -> None:
        self.rng = random.Random(seed)
        # Unseeded, the customers are drawn at random from the pools of seed 0: Faker's
        # pools are filled once per process, not on every call.
        self.pools = _pools(seed if seed is not None else 0)
        self.now = now.replace(microsecond=0)
        self.counter = counter
        self.taken = taken
        self.parents: list[dict[str, Any]] = []

    def customer(self, end_user_id: str) -> dict[str, Any]:
        rng, pools = self.rng, self.pools
        parent = None
        if self.parents and rng.random() < 0.3:
            parent = rng.choice(self.parents)
        created = self.now - timedelta(seconds=rng.randrange(86_400, 730 * 86_400))
        if parent is not None:
            created = max(created, parent["created_at"] + timedelta(hours=1))
        updated = created + timedelta(
            seconds=rng.randrange(0, int((self.now - created).total_seconds()) + 1)
        )
        body = store.empty_body()
        first, last = rng.choice(pools.first), rng.choice(pools.last)
        is_company = parent is None and rng.random() < 0.55
        company = rng.choice(pools.company) if is_company else None
        if parent is not None:
            base = rng.choice(_JOB_WORDS)
            prefix = parent["full_name"] + ":"
        else:
            base = company if company else f"{first} {last}"
            prefix = ""
        name = _unique(base, self.taken, prefix)
        body.update(
            companyName=company or (parent["body"]["companyName"] if parent else None),
            salutation=rng.choice(("Mr.", "Ms.", "Dr.", None)),
            firstName=first,
            middleName=rng.choice(("A.", "J.", "M.", None, None)),
            lastName=last,
            jobTitle=rng.choice(pools.job) if is_company else None,
            billingAddress=_address(pools, rng),
            phone=_phone(rng),
            email=rng.choice(pools.email),
            contact=f"{first} {last}",
            customContactFields=[{"name": "Main Phone", "value": _phone(rng)}]
            + ([{"name": "Mobile", "value": _phone(rng)}] if rng.random() < 0.5 else []),
            customerType=_pick(rng, "customerTypeId"),
            terms=_pick(rng, "termsId"),
            salesTaxCode=_pick(rng, "salesTaxCodeId"),
            accountNumber=str(rng.randrange(1000, 99999)) if rng.random() < 0.4 else None,
            note=rng.choice(pools.sentence) if rng.random() < 0.3 else None,
            preferredDeliveryMethod=rng.choice(wire.DELIVERY_METHODS),
        )
        body["shippingAddress"] = (
            body["billingAddress"] if rng.random() < 0.7 else _address(pools, rng)
        )
        if rng.random() < 0.2:
            body["alternateShippingAddresses"] = [
                {
                    "name": f"Site {i + 1}",
                    **_address(pools, rng),
                    "isDefaultShippingAddress": i == 0,
                }
                for i in range(rng.randint(1, 3))
            ]
        if rng.random() < 0.5:
            body["class"] = _pick(rng, "classId")
        if rng.random() < 0.4:
            body["salesRepresentative"] = _pick(rng, "salesRepresentativeId")
        if rng.random() < 0.3:
            body["creditLimit"] = wire.money(Decimal(rng.randrange(10, 500) * 100))
        if rng.random() < 0.2:
            body["priceLevel"] = _pick(rng, "priceLevelId")
        if rng.random() < 0.3:
            name_, type_, values = rng.choice(_CUSTOM_FIELDS)
            body["customFields"] = [
                {"ownerId": "0", "name": name_, "type": type_, "value": rng.choice(values)}
            ]
        if is_company and rng.random() < 0.5:
            body["additionalContacts"] = [
                self._contact(i, created) for i in range(rng.randint(1, 2))
            ]
        if rng.random() < 0.15:
            body["additionalNotes"] = [
                {"id": 1, "date": created.date().isoformat(), "note": rng.choice(pools.sentence)}
            ]
        if parent is not None:
            body["currency"] = parent["body"]["currency"]
            start = created.date() + timedelta(days=rng.randrange(0, 60))
            body.update(
                jobStatus=rng.choice(wire.JOB_STATUSES),
                jobStartDate=start.isoformat(),
                jobProjectedEndDate=(start + timedelta(days=rng.randrange(30, 365))).isoformat(),
                jobDescription=rng.choice(pools.sentence),
                jobType=_pick(rng, "jobTypeId"),
            )
            if body["jobStatus"] == "closed":
                body["jobEndDate"] = (start + timedelta(days=rng.randrange(10, 300))).isoformat()
        else:
            foreign = rng.random() < 0.15
            currency_id = (
                rng.choice(list(CATALOG["currencyId"].entries)[1:]) if foreign else HOME_CURRENCY_ID
            )
            body["currency"] = reference("currencyId", currency_id)
            body["salesTaxCountry"] = "us"
        balance = Decimal(0)
        if rng.random() < 0.45:
            balance = Decimal(rng.randrange(1, 2_500_000)) / 100
        self.counter += 1
        full_name = prefix + name
        row = {
            "end_user_id": end_user_id,
            "id": wire.list_id(self.counter, created),
            "counter": self.counter,
            "name": name,
            "full_name": full_name,
            "sort_key": full_name.lower(),
            "parent_id": parent["id"] if parent else None,
            "sublevel": parent["sublevel"] + 1 if parent else 0,
            "is_active": rng.random() >= 0.1,
            "balance": balance,
            "total_balance": balance,
            "currency_id": body["currency"]["id"],
            "class_id": (body["class"] or {}).get("id"),
            "revision_number": str(int(updated.timestamp())),
            "created_at": created,
            "updated_at": updated,
            "body": body,
        }
        if row["sublevel"] < 2:
            self.parents.append(row)
        return row

    def _contact(self, index: int, created: datetime) -> dict[str, Any]:
        first, last = self.rng.choice(self.pools.first), self.rng.choice(self.pools.last)
        stamp = wire.local_time(created, UTC)
        return {
            "id": wire.list_id(0x10000000 + self.counter * 64 + index, created),
            "objectType": "qbd_contact",
            "createdAt": stamp,
            "updatedAt": stamp,
            "revisionNumber": str(int(created.timestamp())),
            "name": f"{first} {last}",
            "salutation": None,
            "firstName": first,
            "middleName": None,
            "lastName": last,
            "jobTitle": self.rng.choice(self.pools.job),
            "customContactFields": [],
        }


def _roll_up(rows: list[dict[str, Any]]) -> None:
    # Children come after their parents, so walking backwards adds each job's total once.
    by_id = {row["id"]: row for row in rows}
    for row in reversed(rows):
        parent = by_id.get(row["parent_id"] or "")
        if parent is not None:
            parent["total_balance"] += row["total_balance"]


def seed_customers(
    connection: Connection, end_user_id: str, count: int, seed: int | None, now: datetime
) -> int:
    """Add `count` customers and jobs to the company file; returns how many were added."""
    taken = {
        key for (key,) in connection.execute(
            sa.select(customers.c.sort_key).where(customers.c.end_user_id == end_user_id)
        )
    }  # fmt: skip
    seeder = _Seeder(seed, now, store.next_counter(connection, end_user_id) - 1, taken)
    rows = [seeder.customer(end_user_id) for _ in range(count)]
    _roll_up(rows)
    store.insert_many(connection, rows)
    return len(rows)
