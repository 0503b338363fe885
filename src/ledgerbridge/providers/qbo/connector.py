"""The QuickBooks Online connector: customers page by page, get, create and sparse update,
over Intuit's Accounting API v3 (the real host or the sandbox at `/sandbox/qbo`).

Reading. A full run counts the customers, then reads `ORDERBY Id` pages by `Id > last`
(keyset), then the list of every id. Ids never change, but a merge removes a customer
(the merged-away one; CDC reports it `status: "Deleted"`), so an offset page could shift
under a run; the key list at the end finds what a merge removed. An incremental run asks
CDC first (one request, up to 1000 objects, 30 days back) and falls back to a keyset over
`LastUpdatedTime`, then the key list, when CDC cannot answer completely. A second holding
more changes than a page is read by Id inside it until a read that began after the second
ended; only then does the read move past it (`_one_second`).

`Id > 'n'` compares Ids as numbers on the platform: Id is filterable and sortable in
Intuit's Customer reference, and `ORDERBY Id` is what the full run always used.

Every request carries `minorversion=75`, passes the realm's request budget (10 at once,
500 a minute) and is classified by `classify` into the provider error tree.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from ledgerbridge.db import utcnow
from ledgerbridge.providers.base import (
    AuthError,
    ConflictError,
    CustomerPage,
    FatalError,
    MappedOnRead,
    ProviderValidationError,
    RetriableError,
    ThrottledError,
)
from ledgerbridge.providers.client import RequestLimits, TokenAuth, retry_after_seconds
from ledgerbridge.providers.connector import HttpConnector
from ledgerbridge.providers.paging import KeyPaging, PageGuard, key_list
from ledgerbridge.providers.qbo import mapper, wire
from ledgerbridge.providers.qbo.oauth import PROVIDER, REFRESH_MARGIN, refresh_grant
from ledgerbridge.providers.tokens import AccessTokens

MINOR_VERSION = "75"
MAX_PAGE = 1000
CDC_MAX_OBJECTS = 1000
# CDC looks 30 days back; a day less leaves room for clock skew between us and Intuit.
CDC_WINDOW = timedelta(days=29)
THROTTLE_WAIT = 60.0  # Intuit's advice when a throttle names no Retry-After
LIMITS = RequestLimits(max_concurrent=10, per_minute=500)
"""Intuit's published limits per realm and app: 10 requests at once, 500 a minute."""
ONE_SECOND = timedelta(seconds=1)

_ALL = "Active IN (true, false)"  # without a filter on Active only active ones come back


def _literal(moment: datetime) -> str:
    """A query or CDC time: UTC, whole seconds (floored, so a start never moves later)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _updated_at(customer: Mapping[str, Any]) -> datetime:
    return mapper.parse_qbo_time(customer["MetaData"]["LastUpdatedTime"]).astimezone(UTC)


def _server_time(envelope: Mapping[str, Any]) -> datetime:
    text = envelope.get("time")
    return mapper.parse_qbo_time(text) if isinstance(text, str) else utcnow()


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Amounts have two decimals: the shortest float prints them exactly (`629.1`).
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True)
class QboCheckpoint:
    """Where a read stands: the time incremental reads start from (`since`), and while a
    full run is under way (`full`), the last Id it has read (`after_id`, None before the
    first page)."""

    since: str
    full: bool = False
    after_id: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> QboCheckpoint:
        if not raw.get("full"):
            return cls(str(raw["since"]))
        after = raw.get("after_id")
        return cls(str(raw["since"]), True, None if after is None else str(after))

    def to_json(self) -> dict[str, Any]:
        if not self.full:
            return {"since": self.since}
        return {"full": True, "after_id": self.after_id, "since": self.since}


def _page(
    customers: list[dict[str, Any]],
    checkpoint: QboCheckpoint,
    *,
    total: int | None = None,
    deleted_ids: list[str] | None = None,
) -> CustomerPage:
    records = MappedOnRead(customers, mapper.mapped)
    return CustomerPage(records, checkpoint.to_json(), total, deleted_ids or [])


def _version(row: Mapping[str, Any]) -> tuple[str, str]:
    """A row as one version of one customer: an edit in the same second is a new one."""
    return str(row["Id"]), str(row["SyncToken"])


class QboConnector(HttpConnector):
    """One QuickBooks Online connection (one realm)."""

    provider = PROVIDER
    limits = LIMITS

    _realm: str | None = None

    @property
    def _page_size(self) -> int:
        return min(self.settings.page_size or MAX_PAGE, MAX_PAGE)

    @property
    def _lag(self) -> timedelta:
        return timedelta(seconds=self.settings.lag_seconds)

    # -- requests ---------------------------------------------------------------------------

    def api_root(self) -> str:
        return f"{self.base_url}/v3/company/"

    def auth(self) -> httpx.Auth:
        margin = self.settings.extra.get("token_refresh_margin_s")
        tokens = AccessTokens(
            provider=PROVIDER,
            store=self.credentials,
            grant=refresh_grant(self.http, self.base_url),
            margin=REFRESH_MARGIN if margin is None else timedelta(seconds=float(margin)),
        )
        return TokenAuth(tokens)

    def classify(self, response: httpx.Response) -> Any:
        return classify(response)

    def reauthorise_message(self, refused: AuthError) -> str:
        return (
            f"QuickBooks Online refused the credentials ({refused.message}). Reconnect the "
            "QuickBooks company to authorise ledgerbridge again."
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call of this company, through the shared pipeline."""
        if self._realm is None:
            self._realm = quote(str((await self.credentials.load())["realm_id"]), safe="")
        query = {"minorversion": MINOR_VERSION, **(params or {})}
        content = None
        if body is not None:
            content = orjson.dumps(body, default=_number)
            # Intuit drops a repeated write with the same requestid, so a retry after a
            # lost answer cannot create the customer twice.
            query["requestid"] = uuid.uuid4().hex
        answer: dict[str, Any] = await self.client.request(
            method, f"{self._realm}/{path}", params=query, content=content
        )
        return answer

    async def _query(self, text: str) -> dict[str, Any]:
        return await self._call("GET", "query", params={"query": text})

    async def _rows(self, text: str) -> list[dict[str, Any]]:
        # No rows at all answers an empty QueryResponse.
        rows: list[dict[str, Any]] = (await self._query(text))["QueryResponse"].get("Customer", [])
        return rows

    # -- reading ----------------------------------------------------------------------------

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        """A full run (checkpoint None, or one taken inside a full run), else the changes
        since the checkpoint's `since`."""
        state = None if checkpoint is None else QboCheckpoint.from_json(checkpoint)
        if state is None:
            source = self._full_run(None, None)
        elif state.full:
            source = self._full_run(state.after_id, state.since)
        else:
            source = self._changes(mapper.parse_qbo_time(state.since))
        async for page in source:
            yield page

    async def _full_run(self, after: str | None, since: str | None) -> AsyncIterator[CustomerPage]:
        """Every customer by `Id > last` pages, then the key list. Keyset, not offsets: a
        customer merged away mid-run (QuickBooks removes it) would shift an offset page
        past a live one. The key list (every id that exists, `key_list` parts) ends the
        pass, so a customer merged away before or during the run is recorded as deleted;
        the engine spares what changed after the pass began. The pass stays open (the
        checkpoint `full`) until the list is complete."""
        counted = await self._query(f"SELECT COUNT(*) FROM Customer WHERE {_ALL}")
        total = int(counted["QueryResponse"].get("totalCount", 0))
        # Changes made while the full run reads are picked up by the next incremental run.
        since = since or _literal(_server_time(counted) - self._lag)
        paging = KeyPaging(PROVIDER, self._page_size, after=after)
        while True:
            rows = await self._rows(self._after_id("*", paging.start(), paging.size))
            ids = [str(row["Id"]) for row in rows]
            if not paging.advance(ids):
                if rows:
                    yield _page(rows, QboCheckpoint(since, True, ids[-1]), total=total)
                done = CustomerPage([], QboCheckpoint(since).to_json(), total)
                async for page in self._key_list(done):
                    yield page
                return
            yield _page(rows, QboCheckpoint(since, True, paging.after), total=total)

    @staticmethod
    def _after_id(columns: str, after: str | None, size: int) -> str:
        where = _ALL if after is None else f"Id > '{after}' AND {_ALL}"
        return f"SELECT {columns} FROM Customer WHERE {where} ORDERBY Id MAXRESULTS {size}"

    def _key_list(self, final: CustomerPage) -> AsyncIterator[CustomerPage]:
        """Every customer id that exists now (ids only, the largest pages), as a key list
        ending on `final`: what a merge removed is missing from it."""

        async def ids_after(after: str | None) -> tuple[list[str], bool]:
            rows = await self._rows(self._after_id("Id", after, size))
            return [str(row["Id"]) for row in rows], True  # a short page is the end

        size = min(self.settings.key_page_size or MAX_PAGE, MAX_PAGE)
        return key_list(PROVIDER, size, ids_after, final, wanted=self.settings.key_lists)

    async def _changes(self, since: datetime) -> AsyncIterator[CustomerPage]:
        if utcnow() - since < CDC_WINDOW:
            envelope = await self._call(
                "GET", "cdc", params={"entities": "Customer", "changedSince": _literal(since)}
            )
            changed = [
                customer
                for answer in envelope.get("CDCResponse", [])
                for result in answer.get("QueryResponse", [])
                for customer in result.get("Customer", [])
            ]
            # CDC has no paging: a full answer may have left changes out.
            if len(changed) < CDC_MAX_OBJECTS:
                if changed:
                    yield self._cdc_page(changed, since)
                return
        # The keyset never sees a customer merged away (QuickBooks removes it; only CDC
        # names it, and CDC could not answer): the key list, which lacks it, ends on the
        # last page, so the checkpoint moves past it only with the reconciliation. (A merge
        # moves the survivor's balance and transactions, so a run with a merge always has a
        # page to end on.)
        held: CustomerPage | None = None
        async for page in self._keyset(since):
            if held is not None:
                yield held
            held = page
        if held is not None:
            async for page in self._key_list(held):
                yield page

    def _cdc_page(self, changed: list[dict[str, Any]], since: datetime) -> CustomerPage:
        deleted = [str(c["Id"]) for c in changed if c.get("status") == "Deleted"]
        customers = [c for c in changed if c.get("status") != "Deleted"]
        newest = max(_updated_at(c) for c in changed)
        mark = QboCheckpoint(_literal(max(since, newest - self._lag)))
        return _page(customers, mark, deleted_ids=deleted)

    async def _keyset(self, since: datetime) -> AsyncIterator[CustomerPage]:
        """Pages of `LastUpdatedTime >= start` in (time, Id) order. Each next page starts
        at the last row's time (closed: a second holds many changes), and versions of that
        second already yielded are skipped (by Id and SyncToken: a customer edited twice
        in one second is read twice). A page that is all one second hands that second to
        `_one_second`, which reads all of it before the read moves past it."""
        size = self._page_size
        guard = PageGuard(PROVIDER)
        start = since.astimezone(UTC).replace(microsecond=0)
        at_start: set[tuple[str, str]] = set()  # versions yielded whose time is `start`
        watermark = since

        def page(rows: list[dict[str, Any]], newest: datetime) -> CustomerPage:
            nonlocal watermark
            watermark = max(watermark, newest - self._lag)
            return _page(rows, QboCheckpoint(_literal(watermark)))

        while True:
            guard.check(f"{_literal(start)}|{sorted(at_start)}")
            rows = await self._rows(
                f"SELECT * FROM Customer WHERE Metadata.LastUpdatedTime >= '{_literal(start)}' "
                f"AND {_ALL} ORDERBY Metadata.LastUpdatedTime, Id MAXRESULTS {size}"
            )
            times = [_updated_at(row) for row in rows]
            fresh = [
                row
                for row, moment in zip(rows, times, strict=True)
                if moment != start or _version(row) not in at_start
            ]
            if fresh:
                yield page(fresh, times[-1])
            if len(rows) < size:
                return
            last = times[-1]
            if times[0] == last:
                # The whole page is one second: starting the next page at it again would
                # return this page again. Read all of that second by Id.
                seen = {_version(r) for r in rows} | (at_start if last == start else set())
                async for rest in self._one_second(last, seen, guard):
                    yield page(rest, last)
                start, at_start = last + ONE_SECOND, set()
            else:
                start = last
                at_start = {
                    _version(row) for row, moment in zip(rows, times, strict=True) if moment == last
                }

    async def _one_second(
        self, moment: datetime, seen: set[tuple[str, str]], guard: PageGuard
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every version of one crowded second not in `seen`, by `Id > last` pages inside it.

        Keyset, not offsets: a row edited again while we read leaves the second (it moves
        to a later time, read later by this run or the next) and, by offsets, would pull a
        neighbour back behind our position, unread. And the second is read again from its
        first Id until one whole read began after the second was over on the platform's
        clock (the answer's `time`): QuickBooks stamps a change with the time it is made,
        so rows join a second only while it is the current one, and a read that starts
        after it ended sees all of it. Only then may the read, and the checkpoint, move
        past it.
        """
        size, end = self._page_size, moment + ONE_SECOND
        window = (
            f"Metadata.LastUpdatedTime >= '{_literal(moment)}' "
            f"AND Metadata.LastUpdatedTime < '{_literal(end)}'"
        )
        for round_ in itertools.count():
            after: str | None = None
            began: datetime | None = None
            while True:
                guard.check(f"{_literal(moment)}#{round_}@{after}")
                where = window if after is None else f"{window} AND Id > '{after}'"
                envelope = await self._query(
                    f"SELECT * FROM Customer WHERE {where} AND {_ALL} ORDERBY Id MAXRESULTS {size}"
                )
                began = began or _server_time(envelope)
                rows: list[dict[str, Any]] = envelope["QueryResponse"].get("Customer", [])
                fresh = [row for row in rows if _version(row) not in seen]
                seen.update(_version(row) for row in fresh)
                if fresh:
                    yield fresh
                if len(rows) < size:
                    break
                after = str(rows[-1]["Id"])
            if began >= end:
                return
            # The second was still current when this read began: wait for it to end.
            await asyncio.sleep(min(1.0, max(0.05, (end - began).total_seconds())))

    # -- one customer -----------------------------------------------------------------------

    async def get(self, external_id: str) -> dict[str, Any]:
        envelope = await self._call("GET", f"customer/{quote(external_id, safe='')}")
        customer: dict[str, Any] = envelope["Customer"]
        return customer

    async def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        envelope = await self._call("POST", "customer", body=mapper.to_create_body(fields))
        customer: dict[str, Any] = envelope["Customer"]
        return customer

    async def update(
        self,
        external_id: str,
        changes: Mapping[str, Any],
        current: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """A sparse update based on `current`'s SyncToken: a customer edited since it was
        read fails with ConflictError (QuickBooks' code 5010) instead of being overwritten."""
        if current is None:
            current = await self.get(external_id)
        body = mapper.to_sparse_update_body(external_id, str(current["SyncToken"]), changes)
        envelope = await self._call("POST", "customer", body=body)
        customer: dict[str, Any] = envelope["Customer"]
        return customer


# -- classification ---------------------------------------------------------------------------

_XML_CODE = re.compile(r'<Error[^>]*\bcode="([^"]*)"')
_XML_TEXT = re.compile(r"<(Message|Detail)>([^<]*)</\1>")


def _fault(response: httpx.Response) -> tuple[Any, str, str, str]:
    """(parsed body or None, fault type, first error's code, 'Message: Detail') of any
    answer: QuickBooks' `Fault`, the lowercase `fault` of its 401s, or an XML fault."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text
        found = dict(_XML_TEXT.findall(text))
        code = _XML_CODE.search(text)
        message = ": ".join(v for v in (found.get("Message"), found.get("Detail")) if v)
        return None, "", code.group(1) if code else "", message or text[:200]
    fault = (body.get("Fault") or body.get("fault")) if isinstance(body, dict) else None
    if not isinstance(fault, dict):
        return body, "", "", ""
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0] if isinstance(errors, list) and errors else {}
    message = first.get("Message") or first.get("message") or ""
    detail = first.get("Detail") or first.get("detail") or ""
    text = f"{message}: {detail}" if message and detail else message or detail
    return body, str(fault.get("type", "")), str(first.get("code", "")), text


def classify(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON when it succeeded; otherwise the provider error it stands for
    (a 200 that carries a `Fault` is an error too)."""
    status = response.status_code
    body, fault_type, code, message = _fault(response)
    if status == 200 and isinstance(body, dict) and not fault_type:
        return body
    common: dict[str, Any] = {
        "provider": PROVIDER,
        "http_status": status,
        "code": code or None,
        "request_id": response.headers.get("intuit_tid"),
        "body": body if body is not None else response.text,
    }
    throttled = code == wire.THROTTLED or "ThrottleExceeded" in message
    if status == 429 or throttled:
        raise ThrottledError(
            message or "QuickBooks Online throttled the request; wait and slow down.",
            retry_after=retry_after_seconds(response.headers, THROTTLE_WAIT),
            **common,
        )
    if status >= 500 or fault_type == "SystemFault" or (status == 200 and body is None):
        raise RetriableError(message or f"QuickBooks Online failed (HTTP {status}).", **common)
    if status in (401, 403) or fault_type in ("AuthenticationFault", "AuthorizationFault"):
        raise AuthError(
            message or "QuickBooks Online refused the credentials; reconnect the company.",
            **common,
        )
    if code == wire.STALE_OBJECT:
        raise ConflictError(f"{message} Re-read the customer and apply the change again.", **common)
    if code == wire.OBJECT_NOT_FOUND:
        raise FatalError(message or "Object Not Found", **{**common, "http_status": 404})
    if fault_type == "ValidationFault" or code:
        raise ProviderValidationError(message or f"Refused (code {code}).", **common)
    raise FatalError(message or f"QuickBooks Online answered HTTP {status}.", **common)
