"""`hotline redlist import | show | export` as an admin uses them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.paths import Paths
from hotline.redis_server import PrivateRedis
from redlist.synthetic import credit_code, csv_bytes, rows
from tests.conftest import EXAMPLE_SITE


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    PrivateRedis(
        Paths(state=state, cache=tmp_path)
    ).down()  # the CLI starts the installation's Redis


def hotline(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HOTLINE_DATABASE_URL")}
    env["HOTLINE_STATE_DIR"] = str(state)
    return subprocess.run(
        [sys.executable, "-m", "hotline", "--site", str(EXAMPLE_SITE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_import_show_and_export_from_the_command_line(state: Path, tmp_path: Path) -> None:
    good = tmp_path / "firms.csv"
    good.write_bytes(csv_bytes(list(rows(4, red_every=2)), encoding="gb18030"))
    imported = hotline(state, "redlist", "import", str(good), "--actor", "alice")
    assert imported.returncode == 0, imported.stderr
    assert "4 created" in imported.stdout and "red list: 2 added" in imported.stdout

    shown = hotline(state, "redlist", "show", "+86 21 5000 0002")
    assert (
        "enterprise" in shown.stdout
        and "key-firm" in shown.stdout
        and "QUEUE_PRIO:  10" in shown.stdout
    )
    unknown = hotline(state, "redlist", "show", "13900000000")
    assert "unknown" in unknown.stdout and "press 2" in unknown.stdout

    exported = tmp_path / "back.csv"
    assert hotline(state, "redlist", "export", str(exported)).returncode == 0
    assert credit_code(3) in exported.read_text(encoding="utf-8-sig")
    again = hotline(state, "redlist", "import", str(exported))
    assert "0 created, 0 updated, 4 unchanged" in again.stdout


def test_a_bad_file_is_refused_with_every_bad_line(state: Path, tmp_path: Path) -> None:
    body = list(rows(3))
    body[0][0] = "not-a-code"
    body[2][2] = "none"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(body))
    refused = hotline(state, "redlist", "import", str(bad))
    assert refused.returncode == 1
    assert "nothing was imported: 2 problem(s)" in refused.stderr
    assert "line 2:" in refused.stderr and "line 4:" in refused.stderr


MEMORY_BOUND_MB = 200
FIRMS = 150_000
"""133 MB at the peak when measured (500,000: 196 MB); read whole, 500,000 took 1.23 GB and
150,000 would take about 370 MB."""


def test_a_big_file_of_firms_imports_in_bounded_memory(state: Path, tmp_path: Path) -> None:
    """The file is read as a stream and written in batches: the import's peak memory does
    not grow with the file (1.23 GB for 500,000 firms when the file was read whole)."""
    big = tmp_path / "firms.csv"
    with big.open("wb") as out:
        out.write(csv_bytes([]))
        for start in range(0, FIRMS, 50_000):
            out.write(csv_bytes(list(rows(50_000, red_every=7, start=start))).split(b"\r\n", 1)[1])
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HOTLINE_DATABASE_URL")}
    env["HOTLINE_STATE_DIR"] = str(state)
    command = [sys.executable, "-m", "hotline", "--site", str(EXAMPLE_SITE)]
    command += ["redlist", "import", str(big)]
    # the import runs as the child of a fresh interpreter, which reports the child's peak
    measure = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "print(done.stdout, done.stderr)"
    )
    run = subprocess.run(
        [sys.executable, "-c", measure, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    first, _, output = run.stdout.partition("\n")
    code, peak_kb = (int(value) for value in first.split())
    assert code == 0, output
    assert f"{FIRMS} created" in output and f"{-(-FIRMS // 7)} added" in output, output
    assert peak_kb / 1024 < MEMORY_BOUND_MB, f"peak {peak_kb / 1024:.0f} MB"


def test_a_look_up_starts_nothing_and_says_what_to_do_when_nothing_runs(
    tmp_path: Path,
) -> None:
    state = tmp_path / "fresh"
    shown = hotline(state, "redlist", "show", "+86 21 5000 0002")
    assert shown.returncode == 1
    assert "does not answer" in shown.stderr and "hotline services up" in shown.stderr
    assert not (state / "redis").exists() and not (state / "hotline.db").exists(), (
        "a look-up started a Redis or made a database"
    )
