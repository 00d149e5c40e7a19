"""Where a running service's memory goes, found while it runs.

``kill -USR1 PID`` starts tracing the service's Python allocations (``tracemalloc``: each
allocation costs more while it runs, so it is off until asked); ``kill -USR2 PID`` writes
to the service's log the code holding the most memory allocated since then and still
held — what grew — and stops tracing. The long run uses it to explain a process's growth.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tracemalloc

log = logging.getLogger(__name__)

FRAMES = 8
"""Frames kept per allocation: enough to reach the service's own code from a library's."""
TOP = 20
"""Allocation sites reported, biggest first."""


def listen(loop: asyncio.AbstractEventLoop) -> None:
    """Answer SIGUSR1 (start tracing) and SIGUSR2 (report and stop) in this service."""
    loop.add_signal_handler(signal.SIGUSR1, start)
    loop.add_signal_handler(signal.SIGUSR2, report)


def start() -> None:
    """Start tracing allocations (once)."""
    if tracemalloc.is_tracing():
        log.warning("memory trace: already tracing")
        return
    tracemalloc.start(FRAMES)
    log.warning("memory trace: started; `kill -USR2 %d` reports what is held since", os.getpid())


def report() -> None:
    """Log what is held of what was allocated since tracing started, and stop tracing."""
    if not tracemalloc.is_tracing():
        log.warning("memory trace: not tracing (`kill -USR1 %d` first)", os.getpid())
        return
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    for line in held(snapshot):
        log.warning("%s", line)


def held(snapshot: tracemalloc.Snapshot, top: int = TOP) -> list[str]:
    """The allocation sites of a snapshot, biggest first: the size and number of blocks
    still held, and where they were allocated (the innermost frame first)."""
    stats = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]).statistics(
        "traceback"
    )
    total = sum(stat.size for stat in stats)
    blocks = sum(stat.count for stat in stats)
    lines = [
        f"memory trace: {total / 1e6:.1f} MB in {blocks} blocks allocated since the trace "
        f"began are still held; the {min(top, len(stats))} biggest sites:"
    ]
    for stat in stats[:top]:
        lines.append(f"  {stat.size / 1024:.0f} kB in {stat.count} blocks, allocated at")
        lines.extend(f"    {frame.filename}:{frame.lineno}" for frame in reversed(stat.traceback))
    return lines
