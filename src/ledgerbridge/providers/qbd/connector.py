"""The QuickBooks Desktop connector, through Conductor's REST API (real host or sandbox).

Reading. Conductor lists customers in QuickBooks' own order (by full name, jobs after their
parent; "no custom sorting", docs.conductor.is/api-ref/pagination), never by `updatedAt`,
so a pass cannot be resumed from the last time read. A pass therefore keeps the start of
its window (`updated_after`) as the checkpoint of every page until it is complete; a run
killed midway reads the same window again, and the pages it already saved come back
unchanged and cost no writes. Only the last page moves the checkpoint on, to the newest
change seen minus the lag. The same holds when a cursor dies (Conductor's cursors live
10 s after the previous page): the pass starts again from its window.

The lag window is read again by every pass, so the checkpoint also keeps the revisions it
holds (`boundary`); a pass drops what it already delivered and, when nothing changed,
yields nothing at all.

Deletes. Inactive customers are listed (`status=all`) and mapped as deleted;
customers deleted outright come from `deleted-list-objects`, which QuickBooks keeps for 90
days: a checkpoint last checked longer ago than that cannot be continued, so the pass is
made full, and a full pass's pages carry every id it lists as the parts of a key list
(`key_list`, staged by the engine), the last page completing it.

Renamed parents. A job's `fullName` is its parent's `fullName` and its own `name`
(docs.conductor.is/qbd-examples/jobs-and-customers), so renaming a customer renames every
job under it. Nothing Intuit or Conductor publishes says that this moves the jobs'
`updatedAt` (QuickBooks keeps a job's parent as a reference, and the SDK documents the
EditSequence as changing when the object itself is modified), and the sandbox does not
move it: an incremental listing shows the renamed customer only. So every incremental page
asks the store (`StoredHierarchy`) for the jobs under the customers it changed, and reads
again (`ids=`) those whose stored full name no longer follows their parent's, down the
hierarchy, in the same page: the parent and its jobs are saved in one transaction, and a
run killed before it reads the parent again. A rename written back through our own API
(stored at once) is caught the same way, since it is the jobs that are compared, not the
parent. Were QuickBooks to move the jobs' `updatedAt` after all, the jobs would simply be
listed as changed and nothing would be read twice.

Not verified on a real desktop: whether a transaction that moves a customer's `balance`
(or a job's, and so the parent's `totalBalance`) also moves its `updatedAt`. If it does
not, balances are fresh after a full run only (`run_sync(..., full=True)`).

Writing. Create and update are POSTs; an update carries the `revisionNumber` it is based
on and a stale one is refused (QuickBooks error 3200 → `ConflictError`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Unpack
from urllib.parse import quote

import httpx
import orjson

from ledgerbridge.db import utcnow
from ledgerbridge.providers.base import (
    AuthError,
    ConflictError,
    CustomerPage,
    FatalError,
    MappedCustomer,
    MappedOnRead,
    ProviderValidationError,
    RetriableError,
    ThrottledError,
)
from ledgerbridge.providers.client import HeaderAuth, RequestLimits, retry_after_seconds
from ledgerbridge.providers.connector import Connection, HttpConnector
from ledgerbridge.providers.paging import CursorPaging, KeyListParts
from ledgerbridge.providers.qbd import mapper, wire
from ledgerbridge.unified.customer import iso_utc

PROVIDER = "qbd"
CUSTOMERS_PATH = "/quickbooks-desktop/customers"
DELETED_PATH = "/quickbooks-desktop/deleted-list-objects"

LIMITS = RequestLimits(max_concurrent=1, per_minute=6000)
"""QuickBooks Desktop handles one request at a time per company file; Conductor queues the
rest (docs.conductor.is/api-ref/timeouts), so a second one in flight only waits there.
Conductor publishes no per-minute limit: its docs name only the one-at-a-time queue and
the 90 s timeout, and a real page takes the desktop a second or more. The cap must never
hold a listing back for long: a cursor dies 10 s after the previous page, and a rolling
minute that fills up waits up to 60 s. So it sits above anything one-at-a-time can reach,
as a guard against a runaway loop; `ConnectorSettings.requests_per_minute` moves it."""
REQUEST_TIMEOUT = httpx.Timeout(100.0, connect=10.0)
"""Conductor waits up to 90 s for the desktop (longer when QuickBooks has to start)."""

DELETED_RETENTION = timedelta(days=89)
"""QuickBooks reports list objects deleted in the last 90 days; one day is kept in hand
for the desktop's clock, which is not ours."""
CHECKED_REFRESH = timedelta(days=7)
"""How stale `checked_at` may get before an otherwise unchanged pass stores it again
(once a week, so a no-op run writes nothing, yet a checkpoint never looks too old)."""
BOUNDARY_MAX = 2000
"""Revisions kept in the checkpoint; past this (a bulk import inside the lag) the lag
window is simply delivered again, which costs reads, never writes."""
PASS_ATTEMPTS = 4
"""Passes begun again after a lost cursor before the run gives up."""
KEY_PART_SIZE = 1000
"""Ids of a full pass's key list gathered into each part the engine stages. A part for each
of Conductor's pages of 150 cost a 20,000-customer full pass 0.18 s of CPU staging; parts of
1,000 cost 0.05 s (2.4 µs a customer; sync_bench, timed in the saving thread)."""
INVALID_CURSOR = "INVALID_CURSOR"
"""The sandbox's code for an expired or exhausted cursor. Conductor documents only that
"you'll receive an error", so any invalid-request answer to a cursor request counts."""
_DELETED_MARK = "deleted"


class CursorLostError(FatalError):
    """The cursor expired, was exhausted, or skipped a page: the pass must start again."""


def classify(response: httpx.Response) -> Any:
    """Conductor's answer → its JSON body, or the provider error it means. The only place
    HTTP statuses and Conductor's error codes are read.

    Conductor answers `{"error": {message, userFacingMessage, type, code, httpStatusCode,
    requestId, integrationCode?}}`; QuickBooks' own status code passes through as
    `integrationCode` (docs.conductor.is/apis/errors/object)."""
    status = response.status_code
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    if 200 <= status < 300:
        if body is None:
            raise RetriableError(
                "Conductor answered without a JSON body.", provider=PROVIDER, http_status=status
            )
        return body
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    type_ = str(error.get("type") or "")
    code = str(error.get("code") or "") or None
    integration_code = error.get("integrationCode")
    details: dict[str, Any] = {
        "provider": PROVIDER,
        "http_status": status,
        "code": code,
        "request_id": error.get("requestId") or response.headers.get("conductor-request-id"),
        "body": body,
    }
    message = str(error.get("message") or f"Conductor answered HTTP {status}.")
    if status == 429:
        wait = retry_after_seconds(response.headers, default=1.0)
        raise ThrottledError(message, retry_after=wait, **details)
    if status in (401, 403) or type_ in (wire.AUTHENTICATION_ERROR, "PERMISSION_ERROR"):
        raise AuthError(message, **details)
    if code == "INTEGRATION_CONNECTION_NOT_SET_UP":
        # The end user never finished Conductor's auth flow: only a person can fix that.
        raise AuthError(message, **details)
    if integration_code is not None:
        details["code"] = str(integration_code)
        if str(integration_code) == "3200":
            # "The provided edit sequence ... is out-of-date": the customer changed.
            raise ConflictError(message, **details)
    if status >= 500 or status == 408 or type_ == wire.INTEGRATION_CONNECTION_ERROR:
        # QBD_CONNECTION_ERROR (502): the desktop or its Web Connector is unreachable now.
        raise RetriableError(message, **details)
    if status == 409 and integration_code is None:
        # conductor-py, like every Stainless-generated SDK, retries a 409 (lock contention).
        raise RetriableError(message, **details)
    if "cursor" in response.request.url.params and (
        code == INVALID_CURSOR or type_ == wire.INVALID_REQUEST_ERROR
    ):
        raise CursorLostError(message, **details)
    if code == "RESOURCE_MISSING" or status == 404:
        raise FatalError(message, **{**details, "http_status": 404})
    if status in (400, 422) or type_ in (wire.INVALID_REQUEST_ERROR, wire.INTEGRATION_ERROR):
        # 3100 (name in use), 3140 (bad reference), INVALID_REQUEST (a bad field): the data.
        user_facing = error.get("userFacingMessage")
        if user_facing and user_facing != message and type_ != wire.INVALID_REQUEST_ERROR:
            # An INVALID_REQUEST_ERROR's userFacingMessage is a generic "internal error".
            message = f"{message} ({user_facing})"
        raise ProviderValidationError(message, **details)
    raise FatalError(message, **details)


def _conductor_time(moment: datetime) -> str:
    """A time as Conductor's `updatedAfter` / `deletedAfter` take it: to the second (floored,
    so the window never starts late) with an offset, read in that offset."""
    return moment.replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class QbdCheckpoint:
    """Where a read stands. A full pass in progress is `full` (its pages carry no more:
    it starts again from the top if killed); between runs, the start of the next window,
    when deletions were last asked for, and the revisions read inside the lag."""

    full: bool = True
    updated_after: datetime | None = None
    checked_at: datetime | None = None
    boundary: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> QbdCheckpoint:
        if raw.get("full"):
            return cls()
        after, checked = raw.get("updated_after"), raw.get("checked_at")
        return cls(
            full=False,
            updated_after=None if after is None else wire.parse_time(after),
            checked_at=None if checked is None else wire.parse_time(checked),
            boundary=dict(raw.get("boundary") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        if self.full:
            return {"full": True}
        after, checked = self.updated_after, self.checked_at
        return {
            "updated_after": None if after is None else iso_utc(after),
            "checked_at": None if checked is None else iso_utc(checked),
            "boundary": dict(self.boundary),
        }


@dataclass
class _Window:
    """The newest change a pass has seen and the revisions inside the lag before it, kept
    small as it goes (what falls out of the lag can never be read again unchanged)."""

    lag: timedelta
    cap: datetime
    """The pass's start on our clock: a customer edited during the pass, on a page read
    before the edit, has a later `updatedAt`, so the next window must reach back to it."""
    floor: datetime | None
    newest: datetime | None = None
    revisions: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    def start(self) -> datetime | None:
        """Where the next pass reads from: never before this pass's own window."""
        if self.newest is None:
            return self.floor
        start = min(self.newest, self.cap) - self.lag
        return start if self.floor is None else max(start, self.floor)

    def see(self, object_id: str, revision: str, moment: datetime) -> None:
        if self.newest is None or moment > self.newest:
            self.newest = moment
            start = self.start()
            if start is not None:
                self.revisions = {k: v for k, v in self.revisions.items() if v[0] >= start}
        start = self.start()
        if start is None or moment >= start:
            self.revisions[object_id] = (moment, revision)

    def boundary(self) -> dict[str, str]:
        start = self.start()
        kept = {k: rev for k, (t, rev) in self.revisions.items() if start is None or t >= start}
        return kept if len(kept) <= BOUNDARY_MAX else {}


class QbdConnector(HttpConnector):
    """One Conductor end user (one QuickBooks Desktop company file)."""

    provider = PROVIDER
    limits = LIMITS
    timeout = REQUEST_TIMEOUT
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self, *, clock: Callable[[], datetime] = utcnow, **connection: Unpack[Connection]
    ) -> None:
        super().__init__(**connection)
        self._clock = clock
        self._page_size = min(self.settings.page_size or wire.PAGE_LIMIT_MAX, wire.PAGE_LIMIT_MAX)
        self._key_part_size = self.settings.key_page_size or KEY_PART_SIZE

    # -- requests ---------------------------------------------------------------------

    def auth(self) -> httpx.Auth:
        return HeaderAuth(self._key_headers)

    def classify(self, response: httpx.Response) -> Any:
        return classify(response)

    async def _key_headers(self) -> dict[str, str]:
        """Conductor's keys do not expire: the secret key and the end user, as stored."""
        stored = await self.credentials.load()
        api_key, end_user_id = stored.get("api_key"), stored.get("end_user_id")
        if not api_key or not end_user_id:
            raise AuthError(
                "The connection has no Conductor `api_key` and `end_user_id`.",
                provider=PROVIDER,
            )
        return {"Authorization": f"Bearer {api_key}", "Conductor-End-User-Id": str(end_user_id)}

    def reauthorise_message(self, refused: AuthError) -> str:
        """A refused key is for a person to replace."""
        return (
            f"Conductor refused the secret key or end user: {refused.message} Enter a valid "
            "secret key (sk_...) and end user id (end_usr_...), or finish the end user's "
            "QuickBooks Desktop connection in Conductor."
        )

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | list[str]] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        return await self.client.request(method, path, params=params, json=body)

    # -- reading ----------------------------------------------------------------------

    def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        """Customers changed since `checkpoint` (every one when None), page by page."""
        return self._pages(checkpoint)

    async def _pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        started = self._clock()
        state = QbdCheckpoint() if checkpoint is None else QbdCheckpoint.from_json(checkpoint)
        if state.checked_at is not None and state.checked_at < started - DELETED_RETENTION:
            # Deletions before the window may be forgotten already: only a full list of ids
            # can tell what is gone.
            state = QbdCheckpoint()
        for attempt in range(PASS_ATTEMPTS):
            try:
                async for page in self._pass(state, checkpoint, started):
                    yield page
                return
            except CursorLostError:
                if attempt == PASS_ATTEMPTS - 1:
                    raise

    async def _pass(
        self, state: QbdCheckpoint, given: dict[str, Any] | None, started: datetime
    ) -> AsyncIterator[CustomerPage]:
        """One pass over the window: list pages, then the deletions, then the checkpoint."""
        # Until the pass is complete its pages keep the window it started from.
        midway = state.to_json() if state.full else dict(given or {})
        window = _Window(timedelta(seconds=self.settings.lag_seconds), started, state.updated_after)
        # A full pass lists every id: pages carry those listed so far as parts of the key
        # list (staged by the engine, never all held here), a part once it is large enough.
        wanted = state.full and self.settings.key_lists
        listed = KeyListParts(self._key_part_size) if wanted else None
        pending: Sequence[MappedCustomer] = []
        total: int | None = None
        params = {"status": "all", "limit": str(self._page_size)}
        if state.updated_after is not None:
            params["updatedAfter"] = _conductor_time(state.updated_after)
        async for customers, count in self._list(params):
            total = count if total is None else total
            if listed is not None:
                listed.add(customer["id"] for customer in customers)
            fresh = []
            for customer in customers:
                updated_at = wire.parse_time(customer["updatedAt"])
                window.see(customer["id"], customer["revisionNumber"], updated_at)
                if state.boundary.get(customer["id"]) != customer["revisionNumber"]:
                    fresh.append(customer)
            if fresh:
                if pending:
                    part = listed.part() if listed is not None else None
                    yield CustomerPage(pending, midway, total, key_list=part)
                if not state.full:
                    fresh += await self._renamed_jobs(fresh)
                pending = MappedOnRead(fresh, mapper.mapped)
        deleted = []
        for gone in await self._deleted(state.updated_after, started):
            window.see(gone["id"], _DELETED_MARK, wire.parse_time(gone["deletedAt"]))
            if state.boundary.get(gone["id"]) != _DELETED_MARK:
                deleted.append(gone["id"])
        final = self._final_checkpoint(state, window, started)
        if pending or deleted or listed is not None or final != given:
            part = listed.part(last=True) if listed is not None else None
            yield CustomerPage(pending, final, total, deleted, part)

    def _final_checkpoint(
        self, state: QbdCheckpoint, window: _Window, started: datetime
    ) -> dict[str, Any]:
        checked = state.checked_at
        if checked is None or started - checked > CHECKED_REFRESH:
            checked = started
        final = QbdCheckpoint(False, window.start(), checked, window.boundary())
        return final.to_json()

    async def _renamed_jobs(self, changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The jobs under `changed` whose stored full name no longer follows their parent's,
        as QuickBooks has them now, and the same for the jobs under those, down the
        hierarchy (a grandparent's rename renames every level)."""
        if self.stored is None:
            return []
        seen = {customer["id"] for customer in changed}
        parents = {customer["id"]: customer["fullName"] for customer in changed}
        found: list[dict[str, Any]] = []
        while parents:
            stale = [
                child.external_id
                for child in await self.stored.children(list(parents))
                if child.external_id not in seen
                and child.fully_qualified_name
                != _job_full_name(parents[child.parent_id], child.fully_qualified_name)
            ]
            current = await self._read_ids(stale)
            found += current
            seen.update(customer["id"] for customer in current)
            parents = {customer["id"]: customer["fullName"] for customer in current}
        return found

    async def _read_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """The customers of `ids` as QuickBooks has them now (any status: with `ids`,
        QuickBooks ignores every other filter), skipping any deleted meanwhile (the deleted
        list reports those). One id not found fails a whole `ids` request, so a refused
        chunk is read one customer at a time."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), self._page_size):
            chunk = ids[start : start + self._page_size]
            try:
                async for customers, _ in self._list({"ids": chunk, "limit": str(len(chunk))}):
                    found += customers
            except FatalError as exc:
                if exc.http_status != 404:
                    raise
                for external_id in chunk:
                    try:
                        found.append(await self.get(external_id))
                    except FatalError as missing:
                        if missing.http_status != 404:
                            raise
        return found

    async def _list(
        self, params: Mapping[str, str | list[str]]
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int | None]]:
        """The pages of one listing and how many customers it holds, following Conductor's
        cursor to its end (`nextCursor: null`); a cursor that does not continue where the
        last page left off loses the pass (`CursorLostError`), never a page."""
        paging = CursorPaging(PROVIDER, self._page_size)
        body = await self._request("GET", CUSTOMERS_PATH, params)
        more = paging.advance(body, lost=CursorLostError)
        total = None if paging.remaining is None else len(body["data"]) + paging.remaining
        while True:
            yield body["data"], total
            if not more:
                return
            body = await self._request("GET", CUSTOMERS_PATH, {**params, **paging.params()})
            more = paging.advance(body, lost=CursorLostError)

    async def _deleted(self, since: datetime | None, started: datetime) -> list[dict[str, Any]]:
        """Customers deleted outright since `since` (or in all QuickBooks remembers)."""
        oldest = started - DELETED_RETENTION
        params = {"objectTypes": "customer"}
        if since is not None:
            params["deletedAfter"] = _conductor_time(max(since, oldest))
        body = await self._request("GET", DELETED_PATH, params)
        return [item for item in body["data"] if item.get("listType", "customer") == "customer"]

    # -- one customer -----------------------------------------------------------------

    async def get(self, external_id: str) -> dict[str, Any]:
        """The customer as QuickBooks has it now (`FatalError` 404 when there is none)."""
        customer: dict[str, Any] = await self._request("GET", _customer_path(external_id))
        return customer

    async def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create from unified fields. A create retried after a lost answer that had in fact
        landed is refused as a duplicate name (3100): QuickBooks names are unique."""
        _refuse(mapper.unwritable_fields(fields, None))
        try:
            body = mapper.to_create_body(fields)
        except ValueError as exc:
            raise ProviderValidationError(
                str(exc), provider=PROVIDER, code="NAME_REQUIRED"
            ) from exc
        customer: dict[str, Any] = await self._request("POST", CUSTOMERS_PATH, body=body)
        return customer

    async def update(
        self,
        external_id: str,
        changes: Mapping[str, Any],
        current: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Change the given unified fields, based on `current`'s revision (fetched when
        None): a customer edited since is refused with `ConflictError`."""
        if current is None:
            current = await self.get(external_id)
        _refuse(mapper.unwritable_fields(changes, current))
        body = mapper.to_update_body(changes, str(current["revisionNumber"]), current)
        customer: dict[str, Any] = await self._request(
            "POST", _customer_path(external_id), body=body
        )
        return customer


def _job_full_name(parent_full_name: str, stored_full_name: str | None) -> str:
    """What a job's full name is under its parent's current one (a name holds no colon)."""
    return f"{parent_full_name}:{(stored_full_name or '').rsplit(':', 1)[-1]}"


def _customer_path(external_id: str) -> str:
    return f"{CUSTOMERS_PATH}/{quote(external_id, safe='')}"


def _refuse(fields: list[str]) -> None:
    if fields:
        raise ProviderValidationError(
            "QuickBooks Desktop cannot take these fields through this connector: "
            + ", ".join(fields)
            + " (currency and sales tax are set from the company's own lists, the balance "
            "from transactions; a name, parent or credit limit cannot be removed).",
            provider=PROVIDER,
            code="UNSUPPORTED_FIELDS",
        )
