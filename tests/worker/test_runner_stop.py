"""A worker's shutdown must end even when a background task swallows a cancellation (as a
library on the way sometimes does): it is cancelled again until it stops."""

from __future__ import annotations

import asyncio

from worker.runner import stop_tasks


async def test_a_task_that_swallows_one_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # the first cancellation is lost on the way

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(stop_tasks([task], within_s=5.0), 3.0)
    assert task.cancelled() and swallowed == 1


async def test_a_task_that_never_stops_does_not_hang_the_shutdown() -> None:
    hears = asyncio.Event()

    async def deaf() -> None:
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if hears.is_set():
                    raise

    task = asyncio.create_task(deaf())
    await asyncio.wait_for(stop_tasks([task], within_s=0.3), 2.0)  # gives up, logs, returns
    assert not task.done()
    hears.set()  # let the test end cleanly
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
