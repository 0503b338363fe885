"""What "no lost change" means, as tests check it: the whole of `GET /customers` compared
with the platform's own answer, and a consumer following cursors the way a user's app
does, refusing a version delivered twice, a version older than one already shown, and a
delete the platform never made."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from conftest import read_customers_at
from ledgerbridge.providers.registry import get_platform

Version = tuple[str, int | str]
"""A record's platform version as (modified time, token): later sorts higher."""


def _token(value: Any) -> int | str:
    text = str(value)
    return int(text) if text.isdigit() else text


def version_of(provider: str, native: Mapping[str, Any]) -> Version:
    """The platform's own version of a native customer."""
    if provider == "qbo":
        return (str(native["MetaData"]["LastUpdatedTime"]), _token(native["SyncToken"]))
    if provider == "qbd":
        return (str(native["updatedAt"]), _token(native["revisionNumber"]))
    return (str(native["audit"]["modifiedDateTime"]), 0)


def read_all(url: str, connection_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of `GET /customers` (with `remote_data`), from `params`' cursor on."""
    return read_customers_at(url, connection_id, include="remote_data", limit=500, **params)


@dataclass
class CursorConsumer:
    """A user's app following `GET /customers` cursors while syncs run."""

    url: str
    connection_id: str
    provider: str
    platform_deletes: set[str] = field(default_factory=set)
    """Ids the platform did delete, deactivate or merge away (the test adds them)."""
    cursor: str | None = None
    shown: dict[str, Version] = field(default_factory=dict)
    delivered: set[tuple[str, Version, str, bytes]] = field(default_factory=set)
    duplicated: list[str] = field(default_factory=list)
    older: list[str] = field(default_factory=list)
    phantom_deletes: list[str] = field(default_factory=list)
    followed: int = 0
    """Changes delivered so far."""

    def follow(self) -> int:
        """Read every change since the last cursor; returns how many were delivered."""
        params = {} if self.cursor is None else {"cursor": self.cursor}
        changes = read_all(self.url, self.connection_id, **params)
        self.followed += len(changes)
        for record in changes:
            self._see(record)
        if changes:
            self.cursor = changes[-1]["_nango_metadata"]["cursor"]
        return len(changes)

    def _see(self, record: Mapping[str, Any]) -> None:
        external_id = str(record["id"])
        action = record["_nango_metadata"]["last_action"]
        native = record.get("remote_data") or {}
        version = version_of(self.provider, native)
        # A version's content, too: QuickBooks Desktop renames a job with its parent without
        # a new version, so the same version may rightly come again with another full name.
        body = {k: v for k, v in record.items() if k not in ("_nango_metadata", "remote_data")}
        key = (external_id, version, action, orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        if key in self.delivered:
            self.duplicated.append(external_id)
        self.delivered.add(key)
        previous = self.shown.get(external_id)
        if previous is not None and version < previous:
            self.older.append(external_id)
        self.shown[external_id] = max(version, previous or version)
        inactive = _inactive(self.provider, native)
        if action == "DELETED" and not inactive and external_id not in self.platform_deletes:
            self.phantom_deletes.append(external_id)

    def assert_clean(self) -> None:
        assert self.duplicated == [], f"versions delivered twice: {self.duplicated}"
        assert self.older == [], f"older versions shown after newer: {self.older}"
        assert self.phantom_deletes == [], f"deletes never made: {self.phantom_deletes}"


def _inactive(provider: str, native: Mapping[str, Any]) -> bool:
    if provider == "qbo":
        return native.get("Active") is False
    if provider == "qbd":
        return native.get("isActive") is False
    return native.get("status") == "inactive"


@dataclass(frozen=True)
class Comparison:
    """`GET /customers` against the platform, record by record."""

    compared: int
    lost: list[str]
    """Live at the platform, missing or deleted in ours."""
    wrong: list[str]
    """In both, with a different payload (or live in ours but gone or inactive there)."""

    def assert_equal(self) -> None:
        assert self.lost == [], f"lost: {self.lost}"
        assert self.wrong == [], f"wrong: {self.wrong}"


def compare(
    provider: str, platform: Iterable[Mapping[str, Any]], ours: Iterable[Mapping[str, Any]]
) -> Comparison:
    """Every customer the platform lists (active and inactive), mapped by the platform's
    own mapper, against every record `GET /customers` holds."""
    plugin = get_platform(provider)
    expected = {}
    for native in platform:
        mapped = plugin.map_customer(dict(native))
        expected[mapped.external_id] = (
            {**mapped.payload, "id": mapped.external_id},
            mapped.deleted,
        )
    stored = {str(record["id"]): record for record in ours}
    lost, wrong = [], []
    for external_id, (payload, deleted) in expected.items():
        record = stored.get(external_id)
        is_deleted = record is not None and record["_nango_metadata"]["last_action"] == "DELETED"
        if record is None or (is_deleted and not deleted):
            lost.append(external_id)
            continue
        body = {k: v for k, v in record.items() if k not in ("_nango_metadata", "remote_data")}
        if body != payload or is_deleted != deleted:
            wrong.append(external_id)
    for external_id, record in stored.items():
        gone_there = external_id not in expected
        if gone_there and record["_nango_metadata"]["last_action"] != "DELETED":
            wrong.append(external_id)
    return Comparison(len(expected), lost, wrong)


def check_lossless(consumer: CursorConsumer, platform: Iterable[Mapping[str, Any]]) -> None:
    """After a run: the consumer reads what changed, the whole of `GET /customers` is
    compared with `platform` (the platform's own answer, every customer), the figures are
    printed (`pytest -s` shows them) and every one of them must be zero."""
    consumer.follow()
    ours = read_all(consumer.url, consumer.connection_id)
    result = compare(consumer.provider, platform, ours)
    print(
        f"lossless {consumer.provider}: {result.compared} compared, {len(result.lost)} lost, "
        f"{len(consumer.duplicated)} duplicated, {len(result.wrong)} wrong, "
        f"{len(consumer.older)} older, {len(consumer.phantom_deletes)} phantom deletes "
        f"({consumer.followed} changes followed)"
    )
    result.assert_equal()
    consumer.assert_clean()
