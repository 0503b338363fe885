"""Blocking work (a database transaction, seeding a sandbox) run from async code in a
worker thread: the one way the product does it.

A thread cannot be stopped, and asyncio's own cancellation does not wait for one. anyio's
`to_thread.run_sync` (and Starlette's `run_in_threadpool`, built on it) shields the thread
from anyio's cancel scopes only: a plain `task.cancel()`, which is what stopping a server or
a worker, `asyncio.wait_for` and `asyncio.run`'s shutdown do, makes the `await` raise at once
while the thread runs on. Whatever the caller does next then races the thread's
transaction: a sync run recorded as cancelled while its page still commits (on PostgreSQL
the two lock the run and the connection's state in opposite orders, one is aborted as a
deadlock and the run is left `running`), or a connection handed back to a pool that was
disposed meanwhile, to be garbage-collected unclosed.

`in_thread` waits for the thread whatever happens, then lets the cancellation go on: when
the caller sees `CancelledError`, the work has finished (committed or rolled back) and its
connection is back in its pool. Work that takes something (a claim's leases, a run it
begins) names how to hand it back (`undo`), done before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

from anyio import to_thread  # noqa: TID251 (the one place that may)

T = TypeVar("T")
Args = TypeVarTuple("Args")


def _started(func: Callable[[Unpack[Args]], T], *args: *Args) -> asyncio.Task[T]:
    """`func(*args)` started in a worker thread, as a task of its own that the caller's
    cancellation does not reach."""
    return asyncio.ensure_future(to_thread.run_sync(func, *args))


async def _outlast(work: asyncio.Task[T]) -> None:
    """Wait until `work` has finished, however often the waiting task is cancelled
    meanwhile; its outcome is left in the task (nothing raised here)."""
    while not work.done():
        try:
            await asyncio.wait({work})
        except asyncio.CancelledError:
            continue
    if not work.cancelled():
        work.exception()  # looked at: asyncio does not report it as never retrieved


async def in_thread(
    func: Callable[[Unpack[Args]], T],
    *args: *Args,
    undo: Callable[[T], object] | None = None,
) -> T:
    """`func(*args)` in a worker thread; if the caller is cancelled meanwhile, the
    cancellation is raised once the thread has finished, never before. `undo`, when
    given, is called (in a thread too) with what `func` returned if it succeeded all the
    same: work that took something (a claim's leases, a run begun) hands it back before
    the cancellation goes on."""
    work = _started(func, *args)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await _outlast(work)
        if undo is not None and not work.cancelled() and work.exception() is None:
            await in_thread(undo, work.result())
        raise
