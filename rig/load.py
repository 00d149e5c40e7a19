"""Load for benchmarks: many calls at a rate from one SIPp process, and answering phones
that each take the calls of many seats.

The rig's orchestrator runs one SIPp process per caller, which suits scenarios of a few
calls; at tens of calls a second those processes would cost the machine more than the PBX
does. Here one SIPp process places every call of a step at the given rate (the calling and
dialled numbers of each call from an injection file), and each answering SIPp process takes
every call to the seats whose contact names its port. Every phone sends a tone as RTP, and
every caller holds until the far end hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rig import media, sipp

SIPP = "sipp"
PATIENT = ["-watchdog_major_maxtriggers", "1000000", "-watchdog_minor_maxtriggers", "1000000"]
"""SIPp stops a test when its own loop stalls (over 3 s, ten times): on a machine whose cores
the line under test takes, that ended the long run's caller after 30,000 of its 50,000
calls. The phones wait their turn instead; a call they time out on still counts as lost."""


@dataclass(frozen=True)
class LoadReport:
    """What the callers of one step saw."""

    placed: int
    answered: int
    ended_cleanly: int
    """Answered, and hung up by the far end as a seat does."""


class LoadRig:
    """Answering phones and rate-driven callers; every SIPp process is killed on exit."""

    def __init__(
        self,
        workdir: Path,
        pbx: tuple[str, int],
        caller_ip: str = "127.0.0.2",
        phone_ip: str = "127.0.0.1",
        first_port: int = 41000,
        proxied: bool = False,
    ) -> None:
        self.workdir = workdir
        self.proxied = proxied
        """A proxy (the line's edge) stands in front: the callers keep its route."""
        self.pbx = pbx
        self.caller_ip = caller_ip
        self.phone_ip = phone_ip
        self._ports = itertools.count(first_port, 4)
        self._processes: list[asyncio.subprocess.Process] = []
        self._steps = itertools.count(1)
        workdir.mkdir(parents=True, exist_ok=True)

    async def __aenter__(self) -> LoadRig:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _tone(self, seconds: float) -> str:
        path = self.workdir / f"tone-{int(seconds)}s.pcap"
        if not path.exists():
            media.tone_pcap(path, seconds)
        return str(path)

    async def answer_on(
        self, ports: list[int], answer_after: float, hold: float, vanish: bool = False
    ) -> list[asyncio.subprocess.Process]:
        """Answering phones on these SIP ports: ring ``answer_after`` s, talk, hang up
        after ``hold`` s — or, ``vanish``, answer one call, talk ``hold`` s and vanish (no
        more audio, no BYE) and exit. Their SIPp processes."""
        talk = sipp.Talk(self._tone(hold + 1), int(hold * 1000))
        scenario = self.workdir / ("vanish.xml" if vanish else "answer.xml")
        make = sipp.vanisher if vanish else sipp.answerer
        scenario.write_text(make(talk, int(answer_after * 1000)))
        once = ["-m", "1"] if vanish else []
        processes = []
        for port in ports:
            argv = [
                SIPP, "-sf", str(scenario), "-i", self.phone_ip, "-p", str(port),
                "-mp", str(next(self._ports)), "-cp", str(next(self._ports)),
                "-nostdin", "-l", "10000", *once, *PATIENT,
            ]  # fmt: skip
            processes.append(await self._spawn(argv, self.workdir / f"phone-{port}.stderr"))
        await asyncio.sleep(0.3)  # they bind before calls come
        return processes

    async def place(
        self, calls: list[tuple[str, str]], rate: float, wait: float = 120.0
    ) -> LoadReport:
        """Place ``calls`` (calling number, dialled number) at ``rate`` a second from one
        SIPp process; return when every one has ended (or ``wait`` s after the last)."""
        step = next(self._steps)
        folder = self.workdir / f"step-{step}"
        folder.mkdir()
        lines = "SEQUENTIAL\n" + "".join(f"{number};{dialled};\n" for number, dialled in calls)
        (folder / "calls.csv").write_text(lines)
        talk = sipp.Talk(self._tone(wait + 5), None, wait_ms=int(wait * 1000))
        caller = sipp.load_caller(talk)
        (folder / "caller.xml").write_text(caller if self.proxied else sipp.without_routes(caller))
        log = folder / "calls.log"
        host, port = self.pbx
        process = await self._spawn(
            [
                SIPP, f"{host}:{port}", "-sf", str(folder / "caller.xml"),
                "-inf", str(folder / "calls.csv"), "-i", self.caller_ip,
                "-p", str(next(self._ports)), "-mp", str(next(self._ports)),
                "-cp", str(next(self._ports)), "-r", f"{rate:g}", "-rp", "1000",
                "-m", str(len(calls)), "-l", "10000", "-nostdin", *PATIENT,
                "-timeout", f"{int(len(calls) / rate + wait + 30)}s",
                "-trace_logs", "-log_file", str(log),
            ],
            folder / "caller.stderr",
        )  # fmt: skip
        await process.wait()
        events: dict[str, set[str]] = {}
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                events.setdefault(parts[1], set()).add(parts[0])
        answered = sum(1 for seen in events.values() if "answered" in seen)
        clean = sum(1 for seen in events.values() if {"answered", "remote-hangup"} <= seen)
        return LoadReport(len(calls), answered, clean)

    async def _spawn(self, argv: list[str], stderr_file: Path) -> asyncio.subprocess.Process:
        stderr = os.open(stderr_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        finally:
            os.close(stderr)
        self._processes.append(process)
        return process

    async def stop(self) -> None:
        """Kill every SIPp process of this rig."""
        for process in self._processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 2)
        self._processes.clear()
