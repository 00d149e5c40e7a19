"""The desk's benchmarks run, small, and print their figures beside their baselines (the
figures themselves are measured at full size: docs/benchmarks.md)."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks import company_pane, knowledge_search

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
