"""The softphone rig: SIPp phones that call the hotline and answer as seats and specialists.

A :class:`Scenario` describes a population of phones (seats and specialists with their
behaviour) and callers with an arrival pattern. :meth:`Rig.run` starts every phone, lets
the callers arrive on time, collects what happened to each call, and always leaves no SIPp
process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from rig import media, sipp
from rig.rtp_meter import RtpMeter

SIPP = "sipp"


class Behaviour(StrEnum):
    ANSWER = "answer"
    BUSY = "busy"
    RING = "ring"
    VANISH = "vanish"
    """Answers, talks for ``hold`` seconds, then goes silent and deaf (no BYE, no RTP)."""


@dataclass(frozen=True)
class KeyPress:
    """Digits keyed ``at`` seconds after the call is answered."""

    at: float
    digits: str


@dataclass(frozen=True)
class PhoneSpec:
    """A seat's or specialist's phone listening on ``port``."""

    name: str
    port: int
    behaviour: Behaviour = Behaviour.ANSWER
    answer_after: float = 1.0
    hold: float | None = None
    keys: tuple[KeyPress, ...] = ()
    tone: float = 440.0
    """The frequency (Hz) of the tone it sends as its voice: tell the parties apart."""
    address: str | None = None
    """Where it listens (default: the rig's ``phone_ip``): a PBX node of its own address."""
    answers_options: bool = False
    """Answers OPTIONS (and INFO, NOTIFY, UPDATE) with 200, as a live server does a probe."""


@dataclass(frozen=True)
class CallerSpec:
    """One caller: dials ``dial`` at ``at`` seconds, hangs up after ``hold`` seconds of talk
    (None: waits for the other side to hang up)."""

    number: str
    at: float = 0.0
    hold: float | None = 5.0
    keys: tuple[KeyPress, ...] = ()
    dial: str = "12345"
    display: str | None = None
    """The display name sent with the caller ID (default: the number)."""
    source: str | None = None
    """The address to call from (default: the rig's carrier address); a seat's phone
    dialling a feature code calls from the phones' address."""
    source_port: int | None = None
    """The SIP port to call from (default: a free one): a fixed-contact seat's phone is
    recognised by its address and port."""
    tone: float = 440.0


@dataclass(frozen=True)
class Scenario:
    name: str
    phones: tuple[PhoneSpec, ...]
    callers: tuple[CallerSpec, ...]
    description: str = ""


@dataclass
class CallLog:
    """What one phone saw of one call, in order."""

    call_id: str
    events: list[str] = field(default_factory=list)
    invited: tuple[str, str] | None = None
    """An answering phone's call: the number dialled and the caller ID it came with."""

    def has(self, event: str) -> bool:
        return event in self.events


@dataclass
class PhoneResult:
    """A phone's outcome: its SIPp exit code, its calls, and RTP counted on the wire."""

    name: str
    role: str
    exit_code: int | None
    calls: list[CallLog]
    rtp_received: int
    rtp_sent: int
    errors: str = ""
    started_at: float | None = None
    """Wall-clock time its (first) SIPp process started: when a caller dialled."""
    audio: list[bytes] = field(default_factory=list)
    """The µ-law audio it received (see :func:`rig.media.tone_presence`)."""

    @property
    def answered(self) -> int:
        return sum(1 for call in self.calls if call.has("answered"))

    def summary(self) -> str:
        events = ", ".join(" → ".join(call.events) for call in self.calls) or "no call"
        return (
            f"{self.role:<7} {self.name:<14} exit={self.exit_code!s:<4} "
            f"rtp in/out={self.rtp_received}/{self.rtp_sent:<6} {events}"
        )


@dataclass
class RigReport:
    scenario: str
    callers: list[PhoneResult]
    phones: list[PhoneResult]

    def phone(self, name: str) -> PhoneResult:
        return next(result for result in self.phones + self.callers if result.name == name)

    def render(self) -> str:
        lines = [
            f"scenario {self.scenario}: {len(self.callers)} caller(s), {len(self.phones)} phone(s)"
        ]
        lines += [f"  {result.summary()}" for result in self.callers + self.phones]
        return "\n".join(lines)


_LOG_LINE = re.compile(r"^(\S+)\s+(\S+)\s*$")


class Rig:
    """Runs scenarios against a PBX at ``pbx`` (host, port); callers come from ``caller_ip``
    (the address the site's trunk is matched by), phones listen on ``phone_ip``."""

    def __init__(
        self,
        workdir: Path,
        pbx: tuple[str, int] = ("127.0.0.1", 5060),
        caller_ip: str = "127.0.0.2",
        phone_ip: str = "127.0.0.1",
        first_port: int = 31000,
        proxied: bool = False,
    ) -> None:
        self.workdir = workdir
        self.pbx = pbx
        self.caller_ip = caller_ip
        self.phone_ip = phone_ip
        self.proxied = proxied
        """A SIP proxy (the edge) stands between its phones and the PBX: they keep its route."""
        self._ports = itertools.count(first_port, 4)
        self._processes: list[asyncio.subprocess.Process] = []

    async def run(
        self,
        scenario: Scenario,
        grace: float = 3.0,
        listen: tuple[str, ...] = (),
        until: Callable[[], Awaitable[bool]] | None = None,
        within: float = 60.0,
    ) -> RigReport:
        """Play a scenario to the end and report every phone's outcome; the audio received
        by the phones and callers named in ``listen`` is kept in their results. With
        ``until``, the phones stay up after the callers are done until it holds (at most
        ``within`` seconds): calls the hotline makes to them (call-backs) come later."""
        run_dir = self.workdir / f"{scenario.name}-{int(time.time() * 1000)}"
        run_dir.mkdir(parents=True)
        phones = [(spec, self._prepare_phone(spec, run_dir)) for spec in scenario.phones]
        callers = [
            (spec, self._prepare_caller(spec, i, run_dir))
            for i, spec in enumerate(scenario.callers)
        ]
        media_ports = {job.media_port for _, job in phones + callers}
        kept = {job.media_port for _, job in phones + callers if job.name.split("#")[0] in listen}
        try:
            with RtpMeter(media_ports, keep=kept) as meter:
                for _, job in phones:
                    await self._spawn(job)
                await asyncio.sleep(0.3)  # let the phones bind before calls arrive
                started = time.monotonic()  # callers' `at` counts from here
                await asyncio.gather(
                    *(self._caller_at(spec, job, started) for spec, job in callers)
                )
                deadline = time.monotonic() + within
                while until is not None and not await until():
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                await self._settle(phones, grace)
                for _, job in phones:
                    await self._stop(job)
                await asyncio.sleep(0.2)
                results_callers = [job.result(meter) for _, job in callers]
                results_phones = [job.result(meter) for _, job in phones]
        finally:
            await self.kill_all()
        return RigReport(scenario.name, results_callers, results_phones)

    # --- preparing phones ---------------------------------------------------------------

    def _audio(self, seconds: float | None, tone: float = 440.0) -> str:
        """A tone pcap long enough for the talk, shared by every run of this rig."""
        length = 60.0 if seconds is None else seconds + 1
        path = self.workdir / "media" / f"tone-{int(tone)}hz-{int(length)}s.pcap"
        if not path.exists():
            media.tone_pcap(path, length, frequency=tone)
        return str(path)

    def _keys(
        self, run_dir: Path, keys: tuple[KeyPress, ...], hold: float | None, tone: float = 440.0
    ) -> list[sipp.Keys]:
        result = []
        for press in keys:
            at_ms = int(press.at * 1000)
            path = run_dir / f"keys-{at_ms}-{press.digits.replace('#', 'H').replace('*', 'S')}.pcap"
            talk_on = 60.0 if hold is None else max(hold - press.at, 0.0) + 1
            media.dtmf_pcap(path, press.digits, after_ms=at_ms, then_audio=talk_on, frequency=tone)
            result.append(sipp.Keys(at_ms, str(path)))
        return result

    def _prepare_phone(self, spec: PhoneSpec, run_dir: Path) -> _Job:
        hold_ms = None if spec.hold is None else int(spec.hold * 1000)
        if spec.behaviour is Behaviour.ANSWER:
            talk = sipp.Talk(
                self._audio(spec.hold, spec.tone),
                hold_ms,
                self._keys(run_dir, spec.keys, spec.hold, spec.tone),
            )
            xml = sipp.answerer(talk, int(spec.answer_after * 1000))
        elif spec.behaviour is Behaviour.VANISH:
            talk = sipp.Talk(self._audio(spec.hold, spec.tone), hold_ms)
            xml = sipp.vanisher(talk, int(spec.answer_after * 1000))
        elif spec.behaviour is Behaviour.BUSY:
            xml = sipp.busy()
        else:
            xml = sipp.ringing()
        xml = self._routed(xml)
        media_port = next(self._ports)
        job = _Job(spec.name, "phone", run_dir, media_port)
        job.argv = [
            SIPP,
            "-sf",
            job.write_scenario(xml),
            "-i",
            spec.address or self.phone_ip,
            "-p",
            str(spec.port),
            *(["-aa"] if spec.answers_options else []),
            "-mp",
            str(media_port),
            "-cp",
            str(next(self._ports)),
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(job.log_file),
            "-trace_err",
            "-error_file",
            str(job.error_file),
        ]
        return job

    def _prepare_caller(self, spec: CallerSpec, index: int, run_dir: Path) -> _Job:
        hold_ms = None if spec.hold is None else int(spec.hold * 1000)
        talk = sipp.Talk(
            self._audio(spec.hold, spec.tone),
            hold_ms,
            self._keys(run_dir, spec.keys, spec.hold, spec.tone),
            wait_ms=120_000,
        )
        media_port = next(self._ports)
        job = _Job(f"{spec.number}#{index}", "caller", run_dir, media_port)
        host, port = self.pbx
        timeout = 30 + (spec.hold or 120)
        job.argv = [
            SIPP,
            f"{host}:{port}",
            "-sf",
            job.write_scenario(self._routed(sipp.caller(spec.number, talk, spec.display))),
            "-s",
            spec.dial,
            "-i",
            spec.source or self.caller_ip,
            "-p",
            str(spec.source_port or next(self._ports)),
            "-mp",
            str(media_port),
            "-cp",
            str(next(self._ports)),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            f"{int(timeout)}s",
            "-timeout_error",
            "-trace_logs",
            "-log_file",
            str(job.log_file),
            "-trace_err",
            "-error_file",
            str(job.error_file),
        ]
        return job

    def _routed(self, xml: str) -> str:
        return xml if self.proxied else sipp.without_routes(xml)

    # --- running ------------------------------------------------------------------------

    async def _spawn(self, job: _Job) -> None:
        stderr = os.open(job.stderr_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            job.process = await asyncio.create_subprocess_exec(
                *job.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        finally:
            os.close(stderr)
        self._processes.append(job.process)

    async def _caller_at(self, spec: CallerSpec, job: _Job, started: float) -> None:
        delay = spec.at - (time.monotonic() - started)
        if delay > 0:
            await asyncio.sleep(delay)
        job.started_at = time.time()
        await self._spawn(job)
        assert job.process is not None
        await job.process.wait()

    async def _settle(self, phones: list[tuple[PhoneSpec, _Job]], grace: float) -> None:
        """Give phones a moment to see the last BYEs of calls the callers ended."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if all(job.calls_finished() for _, job in phones):
                return
            await asyncio.sleep(0.1)

    async def _stop(self, job: _Job) -> None:
        process = job.process
        if process is None or process.returncode is not None:
            return
        # SIGUSR1 asks SIPp to quit cleanly (its logs are flushed); then insist.
        for sig, wait in ((signal.SIGUSR1, 3.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), wait)
                return

    async def kill_all(self) -> None:
        """Kill every SIPp process this rig started (and their process groups)."""
        for process in self._processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 2)
        self._processes.clear()


class _Job:
    """One SIPp process: its files and, once started, its process."""

    _counter = itertools.count()

    def __init__(self, name: str, role: str, run_dir: Path, media_port: int) -> None:
        self.name = name
        self.role = role
        self.media_port = media_port
        # SIPp overflows a buffer on long paths: keep names short
        stem = f"{next(self._counter):03d}-{re.sub(r'[^A-Za-z0-9]+', '_', name)[:32]}"
        self.run_dir = run_dir
        self.stem = stem
        self.log_file = run_dir / f"{stem}.log"
        self.error_file = run_dir / f"{stem}.errors"
        self.stderr_file = run_dir / f"{stem}.stderr"
        self.argv: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None

    def write_scenario(self, xml: str) -> str:
        path = self.run_dir / f"{self.stem}.xml"
        path.write_text(xml)
        return str(path)

    def events(self) -> dict[str, CallLog]:
        calls: dict[str, CallLog] = defaultdict(lambda: CallLog(""))
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return {}
        for line in lines:
            match = _LOG_LINE.match(line.strip())
            if match:
                event, call_id = match.groups()
                log = calls[call_id]
                log.call_id = call_id
                if event.startswith(sipp.INVITED):
                    called, _, by = event.removeprefix(sipp.INVITED).partition(sipp.BY)
                    log.invited = (called, by)
                else:
                    log.events.append(event)
        return dict(calls)

    def calls_finished(self) -> bool:
        ended = {"remote-hangup", "local-hangup", "busy", "cancelled", "never-hung-up"}
        return all(ended.intersection(log.events) for log in self.events().values())

    def result(self, meter: RtpMeter) -> PhoneResult:
        process = self.process
        errors = ""
        with contextlib.suppress(FileNotFoundError):
            errors = self.error_file.read_text(errors="replace")[-2000:]
        return PhoneResult(
            name=self.name,
            role=self.role,
            exit_code=process.returncode if process is not None else None,
            calls=list(self.events().values()),
            rtp_received=meter.received(self.media_port),
            rtp_sent=meter.sent(self.media_port),
            errors=errors,
            started_at=self.started_at,
            audio=meter.audio(self.media_port),
        )
