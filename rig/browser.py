"""Headless Chromium driven over the DevTools protocol: open a page, run JavaScript in it,
take a screenshot. Debian's ``chromium`` package; no browser download."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

CONSOLE_AUDIO_IN = """(async () => {
  const pc = window.phone.user.session.sessionDescriptionHandler.peerConnection;
  let packets = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp") packets += s.packetsReceived;
  });
  return packets;
})()"""
"""The RTP packets the seat console's browser phone has received in its call (WebRTC's
statistics): a promise of a number."""


class Page:
    """One browser tab."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def click(self, selector: str) -> None:
        """Click the page's first element matching a CSS selector (in single quotes)."""
        await self.evaluate(f"document.querySelector('{selector}').click()")

    async def wait_for(self, expression: str, within: float = 15.0) -> Any:
        """Poll a JavaScript expression until it is truthy (an error, e.g. while the page
        loads, counts as not yet); its value."""
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(RuntimeError):
                value = await self.evaluate(expression)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {within} s: {expression}")
            await asyncio.sleep(0.2)

    async def screenshot(self, whole_page: bool = False) -> bytes:
        """What the page looks like now, as PNG: the window, or the whole page (scrolled to
        the top, so element rectangles are page coordinates)."""
        if not whole_page:
            data = (await self.call("Page.captureScreenshot", format="png"))["data"]
            return base64.b64decode(data)
        width, height = await self.evaluate(
            "window.scrollTo(0, 0), [document.documentElement.scrollWidth,"
            " document.documentElement.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        data = (
            await self.call(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
            )
        )["data"]
        return base64.b64decode(data)


@contextlib.asynccontextmanager
async def chromium(
    url: str, size: tuple[int, int] = (1280, 900), webrtc: bool = False
) -> AsyncIterator[Page]:
    """Headless Chromium showing ``url``; always closed afterwards. ``webrtc``: a generated
    microphone (no prompt), WebRTC over loopback, and the PBX's own certificate accepted
    (the installation made it; a site gives its own in production)."""
    media = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--ignore-certificate-errors",
        "--autoplay-policy=no-user-gesture-required",
    ]
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise RuntimeError("Chromium is missing: apt-get install chromium (./run tests does)")
    profile = Path(tempfile.mkdtemp(prefix="hotline-chromium-"))
    process = await asyncio.create_subprocess_exec(
        *[
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--window-size={size[0]},{size[1]}",
            *(media if webrtc else []),
            "--force-device-scale-factor=1",
            url,
        ],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or process.returncode is not None:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t.get("type") == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**25) as socket:
            yield Page(socket)
    finally:
        await _close(process, profile)


class FirefoxPage(Page):
    """One Firefox tab, driven over WebDriver BiDi (Firefox speaks no DevTools protocol)."""

    def __init__(self, socket: Any, context: str) -> None:
        super().__init__(socket)
        self.context = context

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == message_id:
                if reply.get("type") == "error":
                    raise RuntimeError(f"{method}: {reply.get('error')}: {reply.get('message')}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "script.evaluate",
            expression=expression,
            target={"context": self.context},
            awaitPromise=True,
            resultOwnership="none",
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {}).get("text")
            raise RuntimeError(f"{expression}: {details}")
        return _plain(result["result"])

    async def screenshot(self, whole_page: bool = False) -> bytes:
        origin = "document" if whole_page else "viewport"
        data = (
            await self.call(
                "browsingContext.captureScreenshot", context=self.context, origin=origin
            )
        )["data"]
        return base64.b64decode(data)


def _plain(value: dict[str, Any]) -> Any:
    """A BiDi remote value as Python (numbers, strings, lists, objects)."""
    kind, inner = value.get("type"), value.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind == "array":
        return [_plain(item) for item in inner or []]
    if kind == "object":
        return {key: _plain(item) for key, item in inner or []}
    if kind == "number" and isinstance(inner, str):  # NaN, Infinity, -0
        return float(inner)
    return inner


FIREFOX_PREFERENCES = {
    # a generated microphone, given without asking
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    # WebRTC over loopback too, with real host addresses (no mDNS names)
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.autoplay.default": 0,
    # nothing fetched from the internet (this machine's network is closed)
    "app.update.disabledForTesting": True,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "browser.shell.checkDefaultBrowser": False,
}


@contextlib.asynccontextmanager
async def firefox(url: str, size: tuple[int, int] = (1280, 900)) -> AsyncIterator[Page]:
    """Headless Firefox (Debian's ``firefox-esr``) showing ``url``, with a generated
    microphone and the PBX's own certificate accepted; always closed afterwards."""
    binary = shutil.which("firefox-esr") or shutil.which("firefox")
    if binary is None:
        raise RuntimeError("Firefox is missing: apt-get install firefox-esr (./run tests does)")
    profile = Path(tempfile.mkdtemp(prefix="hotline-firefox-"))
    (profile / "user.js").write_text(
        "".join(
            f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
            for k, v in FIREFOX_PREFERENCES.items()
        )
    )
    process = await asyncio.create_subprocess_exec(
        binary, "--headless", "--no-remote", "--profile", str(profile),
        "--remote-debugging-port", "0", f"--width={size[0]}", f"--height={size[1]}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        address = await asyncio.wait_for(_bidi_address(process.stderr), 30)
        async with websockets.connect(f"{address}/session", max_size=2**25) as socket:
            bare = FirefoxPage(socket, "")
            await bare.call(
                "session.new", capabilities={"alwaysMatch": {"acceptInsecureCerts": True}}
            )
            tree = await bare.call("browsingContext.getTree")
            page = FirefoxPage(socket, tree["contexts"][0]["context"])
            await page.call(
                "browsingContext.navigate", context=page.context, url=url, wait="complete"
            )
            yield page
    finally:
        await _close(process, profile)


async def _bidi_address(stderr: asyncio.StreamReader) -> str:
    """Firefox says where WebDriver BiDi listens on its standard error."""
    while line := (await stderr.readline()).decode(errors="replace"):
        if "WebDriver BiDi listening on" in line:
            return line.split("listening on", 1)[1].strip()
    raise RuntimeError("Firefox ended before WebDriver BiDi listened")


async def _close(process: asyncio.subprocess.Process, profile: Path) -> None:
    """Stop a browser (killed if it will not end within 5 s) and remove its profile."""
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        process.kill()
        await process.wait()
    shutil.rmtree(profile, ignore_errors=True)
