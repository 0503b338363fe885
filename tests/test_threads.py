"""`in_thread`: blocking work in a worker thread; a cancelled caller goes on only once the
thread has finished, however often it is cancelled meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ledgerbridge.threads import in_thread

pytestmark = pytest.mark.anyio


async def test_the_answer_and_the_error_come_back() -> None:
    assert await in_thread(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        await in_thread(divmod, 1, 0)


@pytest.mark.parametrize("cancels", [1, 3])
async def test_a_cancelled_caller_goes_on_only_after_the_thread(cancels: int) -> None:
    started, events = threading.Event(), []

    def work() -> str:
        started.set()
        time.sleep(0.3)
        events.append("thread finished")
        return "done"

    async def caller() -> None:
        try:
            await in_thread(work)
        except asyncio.CancelledError:
            events.append("caller cancelled")
            raise

    task = asyncio.create_task(caller())
    assert await asyncio.to_thread(started.wait, 10)
    for _ in range(cancels):
        task.cancel()
        await asyncio.sleep(0.01)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["thread finished", "caller cancelled"]


async def test_work_done_for_a_cancelled_caller_is_undone_and_nothing_else() -> None:
    started, undone = threading.Event(), []

    def claim(what: str) -> str:
        started.set()
        time.sleep(0.2)
        return what

    task = asyncio.create_task(in_thread(claim, "leases", undo=undone.append))
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert undone == ["leases"]
    assert await in_thread(claim, "kept", undo=undone.append) == "kept"  # not cancelled
    assert undone == ["leases"]
