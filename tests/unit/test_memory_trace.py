"""A running service's memory trace: SIGUSR1 starts it, SIGUSR2 logs what was allocated
since and is still held, by where it was allocated, and stops it."""

from __future__ import annotations

import logging
import os
import signal
import tracemalloc

import pytest

from core import memory_trace
from core.signals import stop_on_signals
from tests.conftest import eventually

kept: list[bytes] = []


async def tracing() -> bool:
    return tracemalloc.is_tracing()


async def not_tracing() -> bool:
    return not tracemalloc.is_tracing()


def grow() -> None:
    """What the test makes the service hold: 2,000 blocks of 1 kB."""
    kept.extend(os.urandom(1024) for _ in range(2000))


async def test_the_signals_trace_what_grew_and_say_where(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=memory_trace.__name__)
    stop_on_signals()
    os.kill(os.getpid(), signal.SIGUSR1)
    assert await eventually(tracing, within=5)
    grow()
    os.kill(os.getpid(), signal.SIGUSR2)
    assert await eventually(not_tracing, within=5)
    kept.clear()

    report = [record.getMessage() for record in caplog.records]
    assert report[0].startswith("memory trace: started")
    summary, first_site = report[1], report[2:]
    assert "MB in" in summary and "still held" in summary
    assert f"{__file__}:{grow.__code__.co_firstlineno + 2}" in "\n".join(first_site[:12]), (
        "the biggest site is the line that grew"
    )


def test_a_report_without_a_trace_says_to_start_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=memory_trace.__name__)
    memory_trace.report()
    assert f"kill -USR1 {os.getpid()}" in caplog.text
