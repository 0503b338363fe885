"""The Sage Intacct connector: OAuth 2.0 client credentials with stored, rotated tokens;
an incremental read of customers through the query service; a reconciliation of the full
key list to find hard deletes; create and update through the object endpoints.

How a run reads (the checkpoint is `IntacctCheckpoint`, stored by the engine after each
page):

1. Changes: `POST /services/core/query` on `accounts-receivable/customer`, filtered by
   `audit.modifiedDateTime >= since` (a closed start), ordered by that time then `key`, and
   paged by keyset on the time, never by `start` offsets, so a customer edited during the
   run (it moves to the end) cannot shift another out of the read. The platform prints
   times to the second, so the keys already read in the boundary second are carried along
   and skipped when the next page reads that second again (`seen`). A second holding more
   customers than a query page can skip is read on its own, by key (`after`).
2. A full run reads every customer in key order first (keyset on `key`, `by_key`), then
   the changes since `lag` before the newest change the company had when the run began
   (step 1 from there), which finds whatever was edited or added behind the key read.
   Read in modification order, a full run's pages held keys from all over the company,
   and each page's inserts landed all over the record store's index of external ids;
   in key order they land side by side (`sync_bench`, Intacct, 1,000,000 customers:
   15,131 to 25,162 customers a second, the syncing process 57 to 39 µs a customer,
   its peak RSS 223 to 151 MB). Unless a page size is set, the key read's pages are sized
   to the company and the round trip of the query that finds the newest change
   (`paging.sized_pages`): the platform's largest over the internet, smaller over
   loopback, where storing a last page of 4,000 was what a sync of 10,000 waited for.
3. Reconciliation, on every full run and every Nth incremental: every key, keys only, in
   pages of the maximum size, each a part of a key list (`key_list`) that the engine stages;
   with the last, it records each stored live customer not among them as deleted, and the
   checkpoint moves past the reconciliation.

Customers set `inactive` are deleted in the unified model (`mapper.mapped`), and undeleted
when they come back: a status change moves `audit.modifiedDateTime`, so the change read
finds both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

import httpx
import orjson

from ledgerbridge.providers.base import (
    AuthError,
    CustomerPage,
    FatalError,
    MappedOnRead,
    ProviderValidationError,
    RetriableError,
    RetryPolicy,
    ThrottledError,
)
from ledgerbridge.providers.client import (
    ProviderClient,
    RequestLimits,
    TokenAuth,
    retry_after_seconds,
)
from ledgerbridge.providers.connector import Connection, HttpConnector
from ledgerbridge.providers.intacct import mapper
from ledgerbridge.providers.intacct.wire import MAX_QUERY_SIZE, OBJECT_NAME, OBJECT_PATH
from ledgerbridge.providers.paging import KeyPaging, PageGuard, key_list, sized_pages
from ledgerbridge.providers.tokens import AccessTokens
from ledgerbridge.unified.customer import utc_digits

PROVIDER = "intacct"
QUERY_PATH = "/services/core/query"
TOKEN_PATH = "/oauth2/token"
MODIFIED = "audit.modifiedDateTime"
ENTITY_HEADER = "X-IA-API-Param-Entity"
DEFAULT_RECONCILE_EVERY = 10
FIRST_KEY = "0"
"""Below every key (Intacct's keys are positive integers): a read from the first key."""

LIMITS = RequestLimits(max_concurrent=2, per_minute=600)
"""Intacct's documented limit is concurrent requests per company and tier (two on the
lowest tier, the sandbox's default); the monthly transaction allowances are billed, not
enforced, and no per-minute limit is published. So: two in flight unless the connection
says its tier allows more (`ConnectorSettings.max_concurrent`), and a per-minute ceiling
only as a courtesy, far above what a sequential sync sends (one request at a time)."""

# A token is refreshed this long before it expires, so a request never leaves with one
# that dies on the way.
REFRESH_MARGIN = timedelta(seconds=60)
# Seconds to wait on a 429 that names no wait.
DEFAULT_RETRY_AFTER = 2.0


class TokenRefusedError(AuthError):
    """The access token itself was refused (401, or the 400 "Invalid token" that
    sageintacctrestsdk also treats as one): one refresh may cure it."""


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None, list[str]]:
    """(code, message, support id, detail messages) from any of Intacct's error shapes:
    `ia::result.ia::error`, a top-level `ia::error`, `{"error": {...}}`, or OAuth's
    `{"error": "invalid_grant", "error_description": ...}` from the token endpoint."""
    if not isinstance(body, dict):
        return None, None, None, []
    result = body.get("ia::result")
    error = result.get("ia::error") if isinstance(result, dict) else None
    error = error or body.get("ia::error") or body.get("error")
    if isinstance(error, str):
        description = body.get("error_description")
        return error, description if isinstance(description, str) else error, None, []
    if not isinstance(error, dict):
        return None, None, None, []
    details = [
        str(item.get("message"))
        for item in error.get("details") or []
        if isinstance(item, dict) and item.get("message")
    ]
    code, message, support = error.get("code"), error.get("message"), error.get("supportId")
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
        str(support) if support is not None else None,
        details,
    )


def _retry_after(headers: httpx.Headers) -> float:
    """The longest wait any retry header asks for: `Retry-After` and Intacct's
    `x-ia-*-retry-after` variants (the sandbox sends `x-ia-concurrency-retry-after`)."""
    waits = [retry_after_seconds(headers, default=0.0)]
    for name, value in headers.items():
        if name.lower().startswith("x-ia-") and name.lower().endswith("retry-after"):
            waits.append(retry_after_seconds({"retry-after": value}, default=0.0))
    wait = max(waits)
    return wait if wait > 0 or "retry-after" in headers else DEFAULT_RETRY_AFTER


def classify(response: httpx.Response, *, token_request: bool = False) -> Any:
    """The one place an Intacct answer becomes a result or an error of the shared tree.

    Success gives the parsed JSON body (None for 204). `token_request` marks an answer of
    `/oauth2/token`, where any 400, 401 or 403 means the stored credentials are refused."""
    status = response.status_code
    try:
        # orjson, as the other connectors: the standard library's parser took a third of
        # the event loop's time in a sync of 4,000-customer pages (py-spy, README).
        body: Any = orjson.loads(response.content) if response.content else None
    except ValueError:  # orjson.JSONDecodeError is one
        body = response.text
    if 200 <= status < 300:
        if status == 204:
            return None
        if not isinstance(body, dict):
            # A proxy's page or a cut-off answer: the same request should work again.
            raise RetriableError(
                f"HTTP {status} with a body that is not Intacct's JSON",
                provider=PROVIDER,
                http_status=status,
                body=body,
            )
        return body
    code, message, support_id, details = _error_fields(body)
    text = message or f"HTTP {status} from Intacct"
    if details and not token_request:
        text = f"{text}: {'; '.join(details)}"
    kwargs: dict[str, Any] = {
        "provider": PROVIDER,
        "http_status": status,
        "code": code,
        "request_id": support_id,
        "body": body,
    }
    if status == 429:
        raise ThrottledError(text, retry_after=_retry_after(response.headers), **kwargs)
    if token_request and status in (400, 401, 403):
        raise AuthError(f"Intacct refused the connection's credentials: {text}", **kwargs)
    # sageintacctrestsdk (api_base._make_request) treats a 400 saying "Invalid token" or
    # "The token is not valid" as an expired token: Intacct answers some of those with 400.
    if status == 401 or (
        status == 400 and ("Invalid token" in text or "The token is not valid" in text)
    ):
        raise TokenRefusedError(f"Intacct refused the access token: {text}", **kwargs)
    if status in (400, 409, 422):
        # Bad values, business rules, and 409 for a duplicate customer ID (or a reused
        # Idempotency-Key): the data must change, not the timing.
        raise ProviderValidationError(text, **kwargs)
    if status == 403:
        raise FatalError(f"Permission denied: {text}", **kwargs)
    if status == 404:
        raise FatalError(text, **kwargs)
    if status == 408 or status >= 500:
        raise RetriableError(text, **kwargs)
    raise FatalError(text, **kwargs)


def _classify_token_answer(response: httpx.Response) -> Any:
    return classify(response, token_request=True)


def _token_refused(response: httpx.Response) -> bool:
    """The API refused the access token itself: a 401, or the 400 "Invalid token" that
    sageintacctrestsdk (api_base._make_request) also treats as an expired token."""
    if response.status_code == 401:
        return True
    return response.status_code == 400 and (
        "Invalid token" in response.text or "The token is not valid" in response.text
    )


def _entity_header(credentials: Mapping[str, Any]) -> dict[str, str]:
    """`user@company|entity` works in that entity: Intacct takes it as a header."""
    _, _, entity = str(credentials.get("username") or "").partition("|")
    return {ENTITY_HEADER: entity} if entity else {}


def _second(moment: datetime) -> str:
    """The UTC second of an instant as a checkpoint writes it (`2026-03-31T23:49:28Z`):
    `strftime("%Y-%m-%dT%H:%M:%SZ")`, built from `utc_digits` (a sync takes one a row)."""
    year, month, day, hour, minute, second, _ = utc_digits(moment)
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}Z"


def _modified_time(row: Mapping[str, Any]) -> datetime:
    """A row's `audit.modifiedDateTime`."""
    raw = row.get(MODIFIED)
    if not isinstance(raw, str):
        raise FatalError(
            f"customer {row.get('key')!r} came back without {MODIFIED}", provider=PROVIDER
        )
    return mapper.parse_time(raw)


def _count(meta: Mapping[str, Any]) -> int | None:
    """The platform's count of a query's matches (`ia::meta.totalCount`), if it gave one."""
    total = meta.get("totalCount")
    return total if isinstance(total, int) else None


def _modified_second(row: Mapping[str, Any]) -> str:
    """The whole UTC second of a row's `audit.modifiedDateTime` (Intacct prints seconds;
    flooring also copes with a platform that prints fractions)."""
    return _second(_modified_time(row))


@dataclass
class IntacctCheckpoint:
    """Where a read stands, as stored by the engine (the JSON of `to_json`).

    `since`/`seen` is the change read's position: the boundary second and the keys read in
    it. Between runs it is the newest change read; the next incremental starts `lag`
    before it. `running` marks a run in progress (a resumed run continues it: no lag, no
    new count); `full` that it is a full run; `reconcile` that it ends with a key
    reconciliation. `runs` counts incrementals since the last reconciliation. `after` is
    the key position while one crowded second is read by key. `by_key` is the last key a
    full run's read in key order has reached (`FIRST_KEY` before its first page, None
    once it is over or in any other run); `since` is then where the change read that
    follows it begins."""

    since: str | None = None
    seen: list[str] = field(default_factory=list)
    runs: int = 0
    running: bool = False
    full: bool = False
    reconcile: bool = False
    after: str | None = None
    by_key: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IntacctCheckpoint:
        return cls(
            since=raw.get("since"),
            seen=[str(key) for key in raw.get("seen") or []],
            runs=int(raw.get("runs") or 0),
            running=bool(raw.get("running")),
            full=bool(raw.get("full")),
            reconcile=bool(raw.get("reconcile")),
            after=raw.get("after"),
            by_key=raw.get("by_key"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "seen": sorted(self.seen, key=lambda key: (len(key), key)),
            "runs": self.runs,
            "running": self.running,
            "full": self.full,
            "reconcile": self.reconcile,
            "after": self.after,
            "by_key": self.by_key,
        }


@dataclass
class _Scan:
    """The change read's position inside one run (mutated page by page)."""

    since: str | None
    seen: set[str]
    after: str | None = None

    def token(self) -> str:
        return f"{self.since}|{self.after}|{','.join(sorted(self.seen))}"


class IntacctConnector(HttpConnector):
    """One Intacct company (or entity): see the module docstring for how it reads."""

    provider = PROVIDER
    limits = LIMITS

    def __init__(
        self,
        *,
        max_query_size: int = MAX_QUERY_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **connection: Unpack[Connection],
    ) -> None:
        self._clock = clock
        super().__init__(**connection)
        settings = self.settings
        self.max_query_size = max_query_size
        self.page_size = max(1, min(settings.page_size or max_query_size, max_query_size))
        every = settings.extra.get("reconcile_every", DEFAULT_RECONCILE_EVERY)
        self.reconcile_every = max(1, int(every))
        # Called from the auth flow of an API request, whose retries also cover it.
        self._token_endpoint = ProviderClient(
            provider=PROVIDER,
            http=self.http,
            base_url=self.base_url,
            classify=_classify_token_answer,
            retry=RetryPolicy(attempts=1),
        )

    def auth(self) -> httpx.Auth:
        tokens = AccessTokens(
            provider=PROVIDER,
            store=self.credentials,
            grant=self._grant,
            margin=REFRESH_MARGIN,
            reauthorise_hint="Check the client ID, client secret and web services user, "
            "then update the connection's credentials.",
            trust_unknown_expiry=True,  # a token without an expiry is used until a 401
            clock=self._clock,
        )
        return TokenAuth(tokens, refused=_token_refused, headers=_entity_header)

    def classify(self, response: httpx.Response) -> Any:
        return classify(response)

    def reauthorise_message(self, refused: AuthError) -> str | None:
        if not isinstance(refused, TokenRefusedError):
            return None
        return (
            f"{refused.message}, even just after a token refresh. Re-authorise the "
            "connection (check the web services user's permissions)."
        )

    # --- Tokens -------------------------------------------------------------------------

    async def _grant(self, current: dict[str, Any]) -> dict[str, Any]:
        """A `refresh_token` grant when a refresh token is stored, else (or when it is
        refused, as client credentials alone still identify the user) `client_credentials`."""
        client_id, secret = current.get("client_id"), current.get("client_secret")
        username = current.get("username")
        if not client_id or not secret:
            raise AuthError("the credentials need client_id and client_secret", provider=PROVIDER)
        base = {"client_id": str(client_id), "client_secret": str(secret)}
        answer: dict[str, Any] | None = None
        if current.get("refresh_token"):
            form = {
                **base,
                "grant_type": "refresh_token",
                "refresh_token": current["refresh_token"],
            }
            try:
                answer = await self._token_call(form)
            except AuthError:
                if not username:
                    raise
        if answer is None:
            if not username:
                raise AuthError(
                    "the credentials need a username (user@company or user@company|entity) "
                    "or a refresh_token",
                    provider=PROVIDER,
                )
            form = {**base, "grant_type": "client_credentials", "username": str(username)}
            answer = await self._token_call(form)
        token, lifetime = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token:
            raise FatalError(
                "the token endpoint answered without an access_token", provider=PROVIDER
            )
        renewed = {**current, "access_token": token}
        if answer.get("refresh_token"):
            renewed["refresh_token"] = answer["refresh_token"]
        try:
            seconds = float(lifetime) if isinstance(lifetime, int | float | str) else None
        except ValueError:
            seconds = None
        if seconds is None:
            renewed.pop("access_token_expires_at", None)  # unknown: a 401 will tell
        else:
            expires = self._clock() + timedelta(seconds=seconds)
            renewed["access_token_expires_at"] = expires.isoformat()
        return renewed

    async def _token_call(self, form: dict[str, str]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._token_endpoint.request("POST", TOKEN_PATH, data=form)
        return answer

    # --- Requests -----------------------------------------------------------------------

    async def _api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return await self.client.request(method, path, json=json, headers=headers)

    async def _query(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        answer = await self._api("POST", QUERY_PATH, json={"object": OBJECT_NAME, **body})
        rows, meta = answer.get("ia::result"), answer.get("ia::meta")
        if not isinstance(rows, list) or not isinstance(meta, dict):
            raise RetriableError(
                "a query answer without ia::result rows and ia::meta",
                provider=PROVIDER,
                body=answer,
            )
        return rows, meta

    # --- Reading ------------------------------------------------------------------------

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[CustomerPage]:
        """Changed customers page by page, then (when due) the reconciliation page.

        A page that only re-reads the lag window (nothing newer than the checkpoint given)
        carries that checkpoint unchanged. An incremental always counts itself toward the
        next reconciliation, so its last page carries the count even when the run found
        nothing new (an empty page then, or the lag window's re-read customers): without
        that count a quiet company would never be reconciled and its hard deletes never
        found."""
        given = checkpoint
        state = IntacctCheckpoint.from_json(checkpoint) if checkpoint is not None else None
        baseline: tuple[str, set[str]] | None = None
        key_page_size = self.page_size  # a resumed key read goes on at the connector's size
        if state is None:
            since, key_page_size = await self._catch_up_start()
            state = IntacctCheckpoint(
                since=since, running=True, full=True, reconcile=True, by_key=FIRST_KEY
            )
            scan = _Scan(since, set())
        elif state.running:
            scan = _Scan(state.since, set(state.seen), state.after)
        else:
            runs = state.runs + 1
            if state.since is not None:
                baseline = (state.since, set(state.seen))
                scan = _Scan(self._lag_before(mapper.parse_time(state.since)), set())
            else:
                scan = _Scan(None, set())
            state = IntacctCheckpoint(
                since=state.since,
                seen=list(state.seen),
                runs=runs,
                running=True,
                reconcile=runs >= self.reconcile_every,
            )
        listed: int | None = None
        if state.by_key is not None:
            async for rows, total in self._read_by_key(state, key_page_size):
                listed = listed if listed is not None else total
                records = MappedOnRead(rows, mapper.mapped_query_row)
                yield CustomerPage(records=records, checkpoint=state.to_json(), total=listed)
        advanced = baseline is None
        async for rows, done, total in self._read_changes(scan):
            if not advanced:
                assert baseline is not None
                advanced = any(
                    (second := _modified_second(row)) > baseline[0]
                    or (second == baseline[0] and str(row["key"]) not in baseline[1])
                    for row in rows
                )
            if advanced:
                state.since, state.seen, state.after = scan.since, sorted(scan.seen), scan.after
            finished = done and not state.reconcile
            if finished:
                mark = IntacctCheckpoint(since=state.since, seen=state.seen, runs=state.runs)
                page_checkpoint = mark.to_json()
            elif advanced or given is None:
                page_checkpoint = state.to_json()
            else:
                page_checkpoint = given  # only the lag window so far: nothing to move
            records = MappedOnRead(rows, mapper.mapped_query_row)
            if records or finished:
                yield CustomerPage(
                    records=records,
                    checkpoint=page_checkpoint,
                    total=total if listed is None else listed,
                )
        if state.reconcile:
            mark = IntacctCheckpoint(since=state.since, seen=state.seen, runs=0)
            async for page in self._key_list(CustomerPage([], mark.to_json())):
                yield page

    async def _catch_up_start(self) -> tuple[str | None, int]:
        """Where the change read that follows a full run's read in key order begins: `lag`
        before the newest change the company has as the run begins (None: it has no
        customers). Whatever is edited or added behind the key read changes after that.
        And the key read's page size: with no size set, the one that reads this company
        quickest at this request's round trip (`paging.sized_pages`)."""
        began = time.perf_counter()
        rows, meta = await self._query(
            {"fields": ["key", MODIFIED], "orderBy": [{MODIFIED: "desc"}], "start": 1, "size": 1}
        )
        round_trip = time.perf_counter() - began
        since = None if not rows else self._lag_before(_modified_time(rows[0]))
        total = _count(meta)
        if self.settings.page_size is not None or total is None:
            return since, self.page_size
        return since, sized_pages(total, round_trip, largest=self.page_size)

    def _lag_before(self, moment: datetime) -> str:
        """The second `lag` before `moment`, where a change read starts (`_second`)."""
        return _second(moment - timedelta(seconds=self.settings.lag_seconds))

    async def _read_by_key(
        self, state: IntacctCheckpoint, size: int
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int | None]]:
        """(rows, the platform's count) per page of `size` customers after `state.by_key`
        in key order (`KeyPaging`), moving `state.by_key` past each page and to None after
        the last."""
        paging = KeyPaging(PROVIDER, size, after=state.by_key)
        while state.by_key is not None:
            after = paging.start()
            assert after is not None  # `by_key` starts at FIRST_KEY
            rows, meta = await self._after_key(after, size)
            keys = [str(row["key"]) for row in rows]
            more = paging.advance(keys, more=meta.get("next") is not None)
            state.by_key = paging.after if more else None
            yield rows, _count(meta)

    async def _after_key(
        self, after: str, size: int, *within: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """At most `size` customers with keys after `after`, in key order, among those the
        `within` filters match: the keyset both reads by key page with."""
        return await self._query(
            {
                "fields": list(mapper.QUERY_FIELDS),
                "filters": [*within, {"$gt": {"key": after}}],
                "orderBy": [{"key": "asc"}],
                "start": 1,
                "size": size,
            }
        )

    async def _read_changes(
        self, scan: _Scan
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool, int | None]]:
        """(new rows, whether the read is over, the platform's count) per query page,
        moving `scan` past each page. Pages overlap at the boundary second and the overlap
        is dropped; a second with more rows than one page can skip is read by key."""
        guard = PageGuard(PROVIDER)
        order = [{MODIFIED: "asc"}, {"key": "asc"}]
        total: int | None = None
        while True:
            guard.check(scan.token())
            # Each page re-reads the boundary second's rows already read, so it asks for
            # that many more; when they would crowd out half a page, that second is read
            # on its own, by key.
            size = min(self.max_query_size, self.page_size + len(scan.seen))
            if scan.after is None and size - len(scan.seen) < max(1, self.page_size // 2):
                scan.after = FIRST_KEY
            if scan.after is not None:
                assert scan.since is not None
                end = mapper.parse_time(scan.since)
                rows, meta = await self._after_key(
                    scan.after,
                    self.page_size,
                    {"$gte": {MODIFIED: scan.since}},
                    {"$lt": {MODIFIED: _second(end + timedelta(seconds=1))}},
                )
                fresh = [row for row in rows if str(row["key"]) not in scan.seen]
                crowded_done = meta.get("next") is None or not rows
                if rows:
                    scan.after = str(rows[-1]["key"])
                if crowded_done:
                    # The crowded second is read; go on from the next one.
                    scan.since, scan.seen, scan.after = (
                        _second(end + timedelta(seconds=1)),
                        set(),
                        None,
                    )
                yield fresh, False, total
                continue
            rows, meta = await self._query(
                {
                    "fields": list(mapper.QUERY_FIELDS),
                    "filters": [{"$gte": {MODIFIED: scan.since}}] if scan.since else [],
                    "orderBy": order,
                    "start": 1,
                    "size": size,
                }
            )
            if total is None:
                total = _count(meta)
            fresh = []
            for row in rows:
                key, second = str(row["key"]), _modified_second(row)
                if second == scan.since and key in scan.seen:
                    continue  # read on the previous page, unchanged since
                fresh.append(row)
                if scan.since is not None and second < scan.since:
                    continue  # cannot come from a `>=` filter; keep the position
                if second == scan.since:
                    scan.seen.add(key)
                else:
                    scan.since, scan.seen = second, {key}
            done = meta.get("next") is None or len(rows) < size
            yield fresh, done, total
            if done:
                return

    def _key_list(self, final: CustomerPage) -> AsyncIterator[CustomerPage]:
        """Every customer key, keys only, paged by keyset on the key (a delete during the
        pass cannot shift a live key out, as `start` offsets would), as a key list ending
        on `final`."""

        async def keys_after(after: str | None) -> tuple[list[str], bool]:
            rows, meta = await self._query(
                {
                    "fields": ["key"],
                    "filters": [{"$gt": {"key": after}}] if after else [],
                    "orderBy": [{"key": "asc"}],
                    "start": 1,
                    "size": size,
                }
            )
            return [str(row["key"]) for row in rows], meta.get("next") is not None

        size = min(self.settings.key_page_size or self.max_query_size, self.max_query_size)
        return key_list(PROVIDER, size, keys_after, final, wanted=self.settings.key_lists)

    # --- One customer -------------------------------------------------------------------

    async def get(self, external_id: str) -> dict[str, Any]:
        answer = await self._api("GET", f"{OBJECT_PATH}/{external_id}")
        customer: dict[str, Any] = answer["ia::result"]
        return customer

    def _check_writable(self, fields: Mapping[str, Any]) -> None:
        refused = mapper.unwritable(fields)
        if refused:
            raise ProviderValidationError(
                f"Intacct customers cannot be given {', '.join(refused)} "
                "(read-only in Intacct, or not a customer field)",
                provider=PROVIDER,
                code="unsupportedField",
                body={"fields": refused},
            )

    async def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """POST the customer, then read it back whole (the answer is only `{key, id,
        href}`). One Idempotency-Key for every attempt (sageintacctrestsdk sends the same
        header on POST), so a retry after a lost answer cannot create it twice."""
        self._check_writable(fields)
        answer = await self._api(
            "POST",
            OBJECT_PATH,
            json=mapper.to_intacct(fields),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        return await self.get(str(answer["ia::result"]["key"]))

    async def update(
        self,
        external_id: str,
        changes: Mapping[str, Any],
        current: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """PATCH only the given fields, then read the customer back.

        `current` is not needed: Intacct's customer has no revision or sync token to
        reject a stale change with, and a PATCH leaves every field it does not name as it
        is, so an edit made on Intacct since the last sync survives unless it touched the
        very fields changed here (the last writer wins per field)."""
        self._check_writable(changes)
        body = mapper.to_intacct(changes)
        if body:
            await self._api("PATCH", f"{OBJECT_PATH}/{external_id}", json=body)
        return await self.get(external_id)
