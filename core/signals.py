"""How a running service is told to stop."""

from __future__ import annotations

import asyncio
import signal

from core import memory_trace


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets. The service also answers SIGUSR1 and SIGUSR2
    by tracing its memory (:mod:`core.memory_trace`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    memory_trace.listen(loop)
    return stop


async def stop_task(task: asyncio.Task[object] | asyncio.Task[None]) -> None:
    """Cancel a task and wait until it has stopped. A cancellation can be lost on the way
    (redis-py's time limits and an outside cancel meeting in ``asyncio.timeout`` on Python
    3.11): the task is cancelled again until it is done."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
