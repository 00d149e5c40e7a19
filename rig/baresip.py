"""A real softphone beside the SIPp phones: baresip, registered as a seat, answering every
call with a tone (its ``ausine`` source; audio out goes to ALSA's null device). Over TLS it
uses SRTP (SDES) and nothing else, as an encrypted seat's phone must.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hotline.system import ensure_packages
from rig.wire import Wire

MODULES = ("g711.so", "ausine.so", "alsa.so", "srtp.so", "menu.so")


@dataclass(frozen=True)
class SoftphoneAccount:
    """Who the softphone registers as, where, and how."""

    user: str
    password: str
    pbx: tuple[str, int]
    tls_ca: Path | None = None
    """The PBX's certificate to trust: with it, SIP goes over TLS and audio is SRTP."""


class Baresip:
    """Use as ``async with Baresip(...) as phone:``; registered when the block starts."""

    def __init__(
        self,
        workdir: Path,
        account: SoftphoneAccount,
        listen: tuple[str, int],
        rtp_ports: tuple[int, int] = (30000, 30100),
    ) -> None:
        self.workdir, self.account, self.listen, self.rtp_ports = (
            workdir,
            account,
            listen,
            rtp_ports,
        )
        self.log_file = workdir / "baresip.log"
        self._process: asyncio.subprocess.Process | None = None

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        host, port = self.listen
        low, high = self.rtp_ports
        lines = [
            "module_path /usr/lib/baresip/modules",
            f"sip_listen {host}:{port}",
            f"rtp_ports {low}-{high}",
            "audio_player alsa,null",
            "audio_alert alsa,null",
            "audio_source ausine,440",
            "ausrc_srate 48000",  # ausine makes 48 kHz stereo only; baresip resamples
            "ausrc_channels 2",
            "auplay_srate 48000",
            "auplay_channels 2",
            *(f"module {name}" for name in MODULES),
            "module_app account.so",
        ]
        if self.account.tls_ca is not None:
            lines.append(f"sip_cafile {self.account.tls_ca}")
        (self.workdir / "config").write_text("\n".join(lines) + "\n")
        pbx_host, pbx_port = self.account.pbx
        address = f"sip:{self.account.user}@{pbx_host}:{pbx_port}"
        options = f";auth_pass={self.account.password};answermode=auto;regint=300"
        if self.account.tls_ca is not None:
            address += ";transport=tls"
            options += ";mediaenc=srtp-mand"
        accounts = self.workdir / "accounts"
        accounts.write_text(f"<{address}>{options}\n")
        accounts.chmod(0o600)

    async def __aenter__(self) -> Baresip:
        if shutil.which("baresip") is None:
            ensure_packages("baresip-core")
        self._write_config()
        output = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._process = await asyncio.create_subprocess_exec(
                "baresip", "-f", str(self.workdir), "-n", self.listen[0],
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
                start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(output)
        deadline = time.monotonic() + 15
        while "200 OK" not in self.log():
            if self._process.returncode is not None or time.monotonic() > deadline:
                await self.__aexit__(None, None, None)
                raise RuntimeError(f"baresip did not register:\n{self.log()[-2000:]}")
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)  # it unregisters on its way out
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def log(self) -> str:
        """What baresip printed so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class RtpSizes(Wire):
    """The sizes of the UDP payloads to and from a range of ports (a softphone's media):
    plain G.711 RTP of 20 ms is 172 bytes; SRTP adds its authentication tag."""

    def __init__(self, ports: tuple[int, int]) -> None:
        super().__init__()
        self.ports = ports
        self.sizes: Counter[int] = Counter()

    def packet(self, seen_at: float, source: int, destination: int, payload: bytes) -> None:
        low, high = self.ports
        ours = low <= source <= high or low <= destination <= high
        rtp = len(payload) >= 12 and payload[0] >> 6 == 2 and not 72 <= payload[1] & 0x7F <= 76
        if ours and rtp:  # RTP, not RTCP (payload types 200-204)
            self.sizes[len(payload)] += 1
