"""The supervisor: a service that dies is started again after a pause that grows while it
keeps dying at once; how it ended is kept for ``services status``; stopping the supervisor
stops every child. Children here are small shell commands, the clock a counter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import Paths
from core.site import Site, load_site
from hotline import services
from hotline.redis_server import PrivateRedis
from hotline.services import Supervisor, pause_after, redis_to_keep, systemd_unit
from tests.conftest import EXAMPLE_SITE


class Children:
    """Starts each service as a shell command of the test's choosing (default: one that
    keeps running), with its output in the service's log as the real ones have."""

    def __init__(self) -> None:
        self.commands: dict[str, str] = {}
        self.started: list[str] = []

    def __call__(self, paths: Paths, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        self.started.append(name)
        paths.ensure()
        with open(paths.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                ["sh", "-c", self.commands.get(name, "exec sleep 60")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (paths.run / f"{name}.pid").write_text(f"{process.pid}\n")
        return process


@pytest.fixture
def site() -> Site:
    return load_site(EXAMPLE_SITE)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    paths = Paths(state=tmp_path / "state", cache=tmp_path / "cache")
    paths.ensure()
    return paths


def test_pauses_grow_while_a_service_keeps_dying_and_stop_at_thirty_seconds() -> None:
    assert [pause_after(n) for n in (1, 2, 3, 4, 5, 6, 7, 20)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_service_that_dies_is_started_again_and_its_end_is_reported(
    site: Site, paths: Paths
) -> None:
    now = [0.0]
    children = Children()
    children.commands["monitor"] = "echo 'could not reach the database' ; exit 3"
    supervisor = Supervisor(
        site, EXAMPLE_SITE, paths, monotonic=lambda: now[0], spawn=children, probes={}
    )
    try:
        supervisor.look()
        assert sorted(children.started) == sorted(services.names(site))
        supervisor.children["monitor"].process.wait(5)  # type: ignore[union-attr]

        now[0] = 0.5
        supervisor.look()  # noticed: restarted after the first pause, not at once
        assert children.started.count("monitor") == 1
        status = services.describe(paths, site, "monitor")
        assert status.startswith("DIED: exited with code 3"), status
        assert "could not reach the database" in status
        now[0] = 1.6
        supervisor.look()
        assert children.started.count("monitor") == 2
        supervisor.children["monitor"].process.wait(5)  # type: ignore[union-attr]

        now[0] = 1.7
        supervisor.look()  # died again at once: the pause doubles
        now[0] = 3.6
        supervisor.look()
        assert children.started.count("monitor") == 2
        now[0] = 3.8
        supervisor.look()
        assert children.started.count("monitor") == 3
        assert all(children.started.count(name) == 1 for name in ("agi", "app", "web"))
    finally:
        supervisor.stop_all(timeout=5)
    assert all(services.running_pid(paths, name) is None for name in services.names(site))


def test_a_service_that_ran_a_while_before_dying_gets_the_shortest_pause(
    site: Site, paths: Paths
) -> None:
    now = [0.0]
    children = Children()
    children.commands["web"] = "exit 1"
    supervisor = Supervisor(
        site, EXAMPLE_SITE, paths, monotonic=lambda: now[0], spawn=children, probes={}
    )
    try:
        supervisor.look()
        supervisor.children["web"].process.wait(5)  # type: ignore[union-attr]
        supervisor.children["web"].failures = 5  # as if it had failed at once five times
        now[0] = services.HEALTHY_AFTER + 1  # but this time it ran for a minute
        supervisor.look()
        assert supervisor.children["web"].due == now[0] + services.FIRST_PAUSE
    finally:
        supervisor.stop_all(timeout=5)


def test_a_supervisor_started_again_watches_the_services_still_running(
    site: Site, paths: Paths
) -> None:
    children = Children()
    first = Supervisor(site, EXAMPLE_SITE, paths, spawn=children, probes={})
    first.look()
    pids = {name: services.running_pid(paths, name) for name in services.names(site)}
    second = Supervisor(site, EXAMPLE_SITE, paths, spawn=children, probes={})
    try:
        for child in second.children.values():  # what run() does before its first round
            child.adopted = services.running_pid(paths, child.name)
        second.look()
        assert len(children.started) == len(pids), "a running service was started twice"
    finally:
        second.stop_all(timeout=5)
        first.stop_all(timeout=5)


def test_the_systemd_unit_runs_the_supervisor_and_refuses_unsafe_paths(paths: Paths) -> None:
    unit = systemd_unit(paths, Path("/etc/hotline/site.toml"), Path("/opt/hotline/bin/hotline"))
    assert "ExecStart=/opt/hotline/bin/hotline --site /etc/hotline/site.toml services run" in unit
    assert "ExecStartPre=/opt/hotline/bin/hotline --site /etc/hotline/site.toml pbx up" in unit
    assert "ExecStopPost=/opt/hotline/bin/hotline --site /etc/hotline/site.toml pbx down" in unit
    assert "Restart=always" in unit
    assert f'"HOTLINE_STATE_DIR={paths.state}"' in unit
    for bad in ("/etc/hot\nline.toml", "/etc/$HOME.toml", 'site".toml', "relative.toml"):
        with pytest.raises(ValueError, match="systemd unit"):
            systemd_unit(paths, Path(bad), Path("/opt/hotline/bin/hotline"))


def test_a_front_door_that_stops_answering_is_killed_and_started_again(
    site: Site, paths: Paths
) -> None:
    now = [0.0]
    answers = [False, True, True, False, True, False, False]  # starting, up, frozen...
    children = Children()
    supervisor = Supervisor(
        site,
        EXAMPLE_SITE,
        paths,
        monotonic=lambda: now[0],
        spawn=children,
        probes={"agi": lambda: answers.pop(0)},
    )
    try:
        supervisor.look()  # started
        for moment in (1, 2, 3, 4, 5):  # not yet answering, answers, answers, one miss, answers
            now[0] = moment
            supervisor.look()
        frozen = supervisor.children["agi"].pid()
        assert frozen is not None and children.started.count("agi") == 1
        now[0] = 6
        supervisor.look()  # a first miss: it may be busy
        assert supervisor.children["agi"].pid() == frozen
        now[0] = 7
        supervisor.look()  # a second in a row: killed
        supervisor.children["agi"].process.wait(5)  # type: ignore[union-attr]
        now[0] = 7.1
        supervisor.look()
        now[0] = 8.2
        supervisor.look()
        assert children.started.count("agi") == 2, "started again after the first pause"
        assert "DIED" not in services.describe(paths, site, "agi")
    finally:
        supervisor.stop_all(timeout=5)


def test_asterisk_that_dies_is_started_again_while_the_installation_wants_it(
    site: Site, paths: Paths
) -> None:
    """``pbx up`` marks the PBX wanted: one that dies is started again after the first pause
    (and one found running is adopted, not started twice); after ``pbx down`` it is left
    down; stopping the supervisor leaves Asterisk and its calls running."""
    now = [0.0]
    children = Children()
    started: list[subprocess.Popen[bytes]] = []

    def start_pbx() -> subprocess.Popen[bytes]:
        started.append(children(paths, services.PBX, []))
        return started[-1]

    supervisor = Supervisor(
        site, EXAMPLE_SITE, paths, monotonic=lambda: now[0], spawn=children, probes={},
        start_pbx=start_pbx,
    )  # fmt: skip
    wanted = paths.run / "asterisk.wanted"
    try:
        supervisor.look()
        assert started == [], "Asterisk started though nobody brought it up"
        by_hand = children(paths, services.PBX, [])  # `hotline pbx up` while it runs
        wanted.touch()
        supervisor.look()
        assert started == [] and supervisor.children[services.PBX].adopted == by_hand.pid
        by_hand.kill()
        by_hand.wait(5)
        now[0] = 0.2
        supervisor.look()  # noticed: started again after the first pause
        assert started == []
        now[0] = 0.2 + services.FIRST_PAUSE
        supervisor.look()
        assert len(started) == 1 and services.running_pid(paths, services.PBX) == started[0].pid
        assert "SIGKILL" not in services.describe(paths, site, services.PBX)

        wanted.unlink()  # `hotline pbx down`
        started[0].kill()
        started[0].wait(5)
        now[0] = 10.0
        supervisor.look()
        now[0] = 20.0
        supervisor.look()
        assert len(started) == 1, "Asterisk started again after it was brought down"

        wanted.touch()
        supervisor.look()
        assert len(started) == 2
    finally:
        supervisor.stop_all(timeout=5)
    assert services.running_pid(paths, services.PBX) == started[-1].pid
    started[-1].kill()
    started[-1].wait(5)


@pytest.mark.parametrize(
    ("node", "redis_url", "kept"),
    [
        (None, None, True),  # the line's (or a one-PBX installation's) own supervisor
        ("pbx-a", None, False),  # a node's supervisor: the line's Redis is not its own
        (None, "redis://redis.example.org:6379/0", False),  # run by others
    ],
)
def test_only_the_line_s_own_supervisor_keeps_its_private_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: str | None, redis_url: str | None,
    kept: bool,
) -> None:  # fmt: skip
    if redis_url is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", redis_url)
    redis = redis_to_keep(Paths(tmp_path / "state", tmp_path / "cache", node))
    assert isinstance(redis, PrivateRedis) is kept


def test_services_up_names_the_setting_to_check_when_the_database_does_not_answer(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env |= {
        "HOTLINE_STATE_DIR": str(state),
        "HOTLINE_DATABASE_URL": f"postgresql+psycopg://hotline@/hotline?host={tmp_path}&port=9",
    }
    try:
        up = subprocess.run(
            [sys.executable, "-m", "hotline", "--site", str(EXAMPLE_SITE), "services", "up"],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    finally:
        PrivateRedis(Paths(state, tmp_path / "cache")).down()
    assert up.returncode == 1
    assert "the database could not be prepared" in up.stderr, up.stderr
    assert "check HOTLINE_DATABASE_URL" in up.stderr, up.stderr
