"""The desk's benchmarks run, small, and print their figures beside their baselines (the
figures themselves are measured at full size: docs/benchmarks.md)."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks import company_pane, knowledge_search, long_run

FIGURE = r"\| ([0-9.]+) ms \| ([0-9.]+) ms \| ([0-9.]+) ms \|"


def test_the_company_pane_benchmark_prints_the_pane_beside_plain_sql(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["company_pane", "--firms", "4", "--calls", "20", "--orders", "6", "--runs", "5"]
    monkeypatch.setattr(sys, "argv", argv)
    company_pane.main()
    printed = capsys.readouterr().out
    # every call shown (fewer than 30); answered orders older than half a year are not
    pane = r"the pane of firm 2: 20 calls made, 20 shown, \d orders, 2 transfers"
    assert re.search(pane, printed), printed
    assert re.search(r"company pane \(`Desk.company`\) " + FIGURE, printed), printed
    assert re.search(r"the same rows, plain SQL " + FIGURE, printed), printed


def test_the_knowledge_benchmark_prints_the_search_beside_a_like_scan(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["knowledge_search", "--entries", "300", "--questions", "20"])
    knowledge_search.main()
    printed = capsys.readouterr().out
    assert "plain LIKE scan (SQLite)" in printed
    assert re.search(r"right entry in the first three: \d+/20", printed), printed


# (readings of one process life, seconds from its first) -> its line, or None: not judged
MEMORY_LIVES = [
    ([(0, 80.0), (60, 90.0), (120, 95.0), (240, 95.0)], "95.0 →    95.0 (highest 95.0), +0.00"),
    ([(0, 60.0), (120, 70.0), (220, 71.0)], "70.0 →    71.0 (highest 71.0), +1.00"),
    ([(0, 60.0), (60, 61.0), (119, 99.0)], None),  # gone before its warm-up was over
    ([(0, 60.0), (120, 70.0)], None),  # one reading after the warm-up says nothing
]


@pytest.mark.parametrize(("readings", "shown"), MEMORY_LIVES)
def test_the_long_run_judges_each_process_life_after_its_warm_up(
    readings: list[tuple[float, float]], shown: str | None
) -> None:
    born = 600.0  # a process started again in the middle of the run
    samples = [(born + at, "pbx-a asterisk", 4242, rss) for at, rss in readings]
    lines = long_run.memory_stretches(samples, calls_per_second=10.0)
    judged = [line for line in lines[1:] if "pid 4242" in line]
    if shown is None:
        assert judged == [], lines
    else:
        assert len(judged) == 1 and shown in judged[0], lines
