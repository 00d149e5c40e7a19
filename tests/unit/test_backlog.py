"""When the app counts as behind with its new callers (``ari_app.backlog``), as a table:
the waits of new callers in, and at given moments whether new callers go to Asterisk's
queue."""

from __future__ import annotations

import pytest

from ari_app.backlog import Backlog, sent_at

# (the new callers' waits, each as (moment, seconds waited)), then (moment, behind?) checks
CASES = {
    "callers served at once: never behind": ([(0.0, 0.01), (1.0, 0.05)], [(1.0, False)]),
    "one caller waited 100 ms: behind": ([(0.0, 0.1)], [(0.0, True), (1.9, True)]),
    "two seconds after the last late caller: serving again": (
        [(0.0, 0.3)],
        [(1.99, True), (2.0, False)],
    ),
    "another late caller holds it longer": ([(0.0, 0.2), (1.5, 0.15)], [(3.0, True), (3.5, False)]),
    "quick callers while behind do not end it early": ([(0.0, 0.2), (0.5, 0.0)], [(1.0, True)]),
    "a wait just under the limit is fine": ([(0.0, 0.099)], [(0.0, False)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_when_the_app_is_behind(name: str) -> None:
    arrivals, checks = CASES[name]
    backlog = Backlog()
    for at, waited in arrivals:
        backlog.arrived(waited, at)
    assert [(at, backlog.behind(at)) for at, _ in checks] == checks


def test_asterisks_event_moments_are_read_and_garbage_is_not() -> None:
    assert sent_at("2026-12-06T03:50:00.250+0000") == 1796529000.25
    assert sent_at("2026-12-06T11:50:00.250+0800") == 1796529000.25
    assert sent_at("yesterday") is None and sent_at(None) is None
