"""A thin asynchronous client for Asterisk's REST Interface: REST calls and the event stream.

Only what the hotline uses; each method is one ARI call. Errors become :class:`AriError`
carrying the HTTP status, so callers can tell "no such channel" (404) from "endpoint has no
contact" (500 on dial) and act on it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import websockets

from ari_app.http import KeepAliveClient

log = logging.getLogger(__name__)

Event = dict[str, Any]

CONNECTED = "hotline.StreamConnected"
"""The first item of every event stream: the application is registered from here on."""


UNREACHABLE = 0
"""The status of an :class:`AriError` when Asterisk did not answer at all."""


class AriError(Exception):
    """An ARI request failed."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"ARI {method} {path} answered {status}: {body[:200]}")


@dataclass(frozen=True)
class AriConfig:
    """How to reach ARI: base URL like ``http://127.0.0.1:8088/ari``, user, password, app."""

    url: str
    user: str
    password: str
    app: str = "hotline"


class AriClient(Protocol):
    """What the Stasis application asks of Asterisk's REST interface. :class:`Ari` speaks
    it over HTTP; the scripted Asterisk of the unit tests (``tests/unit/ari_script.py``)
    answers it in memory. Errors are :class:`AriError` with the HTTP status."""

    async def channels(self) -> list[Event]: ...
    async def endpoint(self, technology: str, resource: str) -> Event: ...
    async def channel(self, channel_id: str) -> Event: ...
    async def answer(self, channel_id: str) -> None: ...
    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...
    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        app_args: str,
        caller_id: str | None = None,
        ring_seconds: int = 30,
        variables: dict[str, str] | None = None,
        originator: str | None = None,
    ) -> Event: ...
    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None: ...
    async def stop_moh(self, channel_id: str) -> None: ...
    async def play(self, channel_id: str, media: str) -> str: ...
    async def play_to_bridge(self, bridge_id: str, media: str) -> str: ...
    async def stop_playback(self, playback_id: str) -> None: ...
    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...
    async def global_variable(self, name: str) -> str | None: ...
    async def started_at(self) -> str: ...
    async def bridges(self) -> list[Event]: ...
    async def create_bridge(self, bridge_id: str, name: str = "") -> Event: ...
    async def add_to_bridge(
        self, bridge_id: str, *channel_ids: str, absorb_dtmf: bool = False
    ) -> None: ...
    async def record_bridge(self, bridge_id: str, name: str, format: str) -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...
    async def application(self, name: str | None = None) -> Event: ...
    async def subscribe(self, sources: list[str]) -> None: ...
    async def move(self, channel_id: str, app_args: str) -> None: ...
    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int
    ) -> None: ...
    async def close(self) -> None: ...


class Ari:
    """REST calls to ARI (an :class:`AriClient`). Use as ``async with Ari(config) as ari:``."""

    def __init__(self, config: AriConfig, timeout: float = 5.0) -> None:
        self.config = config
        self._plain: KeepAliveClient | None = None
        self._http: httpx.AsyncClient | None = None
        if urlsplit(config.url).scheme == "http":  # the usual case: our own lean client
            self._plain = KeepAliveClient(config.url, config.user, config.password, timeout)
        else:
            self._http = httpx.AsyncClient(
                base_url=config.url.rstrip("/"),
                auth=(config.user, config.password),
                timeout=timeout,
            )

    async def __aenter__(self) -> Ari:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._plain is not None:
            await self._plain.close()
        if self._http is not None:
            await self._http.aclose()

    async def request(self, method: str, path: str, json_body: Any = None, **params: Any) -> Any:
        """One ARI call; returns the decoded JSON (or None for 204). Asterisk not answering
        (down, restarting, too slow) is an :class:`AriError` with status 0, like any refusal:
        a call goes on as well as it can instead of failing on a transport error."""
        try:
            return await self._request(method, path, json_body, **params)
        except (OSError, TimeoutError, httpx.HTTPError) as error:
            raise AriError(method, path, UNREACHABLE, str(error) or type(error).__name__) from error

    async def _request(self, method: str, path: str, json_body: Any, **params: Any) -> Any:
        query = {k: _param(v) for k, v in params.items() if v is not None}
        body = None if json_body is None else json.dumps(json_body).encode()
        if self._plain is not None:
            status, content = await self._plain.request(method, path, query, body)
        else:
            assert self._http is not None
            response = await self._http.request(
                method,
                path,
                params=query,
                content=body,
                headers={"Content-Type": "application/json"} if body else None,
            )
            status, content = response.status_code, response.content
        if status >= 400:
            raise AriError(method, path, status, content.decode(errors="replace"))
        if status == 204 or not content:
            return None
        return json.loads(content)

    # --- channels ----------------------------------------------------------------------

    async def channels(self) -> list[Event]:
        result: list[Event] = await self.request("GET", "/channels")
        return result

    async def endpoint(self, technology: str, resource: str) -> Event:
        """An endpoint (``PJSIP``, ``1001``): its state and the channels it has now."""
        return dict(await self.request("GET", f"/endpoints/{technology}/{resource}"))

    async def channel(self, channel_id: str) -> Event:
        result: Event = await self.request("GET", f"/channels/{channel_id}")
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", reason=reason)

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        app_args: str,
        caller_id: str | None = None,
        ring_seconds: int = 30,
        variables: dict[str, str] | None = None,
        originator: str | None = None,
    ) -> Event:
        """Ring an endpoint; its channel enters the app (StasisStart) only when it answers."""
        body = {"variables": variables} if variables else None
        result: Event = await self.request(
            "POST",
            "/channels",
            json_body=body,
            endpoint=endpoint,
            app=self.config.app,
            appArgs=app_args,
            channelId=channel_id,
            callerId=caller_id,
            timeout=ring_seconds,
            originator=originator,
        )
        return result

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", mohClass=moh_class)

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/moh")

    async def play(self, channel_id: str, media: str) -> str:
        """Start playing ``media`` (e.g. ``sound:/path/prompt``) to a channel; the playback id."""
        result: Event = await self.request("POST", f"/channels/{channel_id}/play", media=media)
        return str(result["id"])

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable", variable=name, value=value)

    async def global_variable(self, name: str) -> str | None:
        result = await self.request("GET", "/asterisk/variable", variable=name)
        return str(result.get("value")) if result and result.get("value") else None

    async def started_at(self) -> str:
        """When Asterisk started (a restart since the last look changes it)."""
        result = await self.request("GET", "/asterisk/info", only="status")
        return str((result or {}).get("status", {}).get("startup_time", ""))

    async def bridges(self) -> list[Event]:
        result: list[Event] = await self.request("GET", "/bridges")
        return result

    async def create_bridge(self, bridge_id: str, name: str = "") -> Event:
        """A mixing bridge that still reports DTMF (a plain two-leg mixing bridge goes
        native and the app would never see a seat's feature code)."""
        result: Event = await self.request(
            "POST", f"/bridges/{bridge_id}", type="mixing,dtmf_events", name=name or None
        )
        return result

    async def add_to_bridge(
        self, bridge_id: str, *channel_ids: str, absorb_dtmf: bool = False
    ) -> None:
        """Add channels to a bridge in one request (Asterisk finds them all before it adds
        any: one that is gone fails the request)."""
        await self.request(
            "POST",
            f"/bridges/{bridge_id}/addChannel",
            channel=",".join(channel_ids),
            absorbDTMF=absorb_dtmf,
        )

    async def play_to_bridge(self, bridge_id: str, media: str) -> str:
        """Start playing ``media`` to everyone in a bridge; the playback id."""
        result: Event = await self.request("POST", f"/bridges/{bridge_id}/play", media=media)
        return str(result["id"])

    async def record_bridge(self, bridge_id: str, name: str, format: str) -> None:
        """Record everything mixed in a bridge into ``name``.``format`` (under Asterisk's
        recordings directory) until the bridge is destroyed."""
        await self.request(
            "POST",
            f"/bridges/{bridge_id}/record",
            name=name,
            format=format,
            ifExists="fail",
            beep=False,
            terminateOn="none",
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")

    async def application(self, name: str | None = None) -> Event:
        """An application's state (this client's own by default): its channels, bridges."""
        result: Event = await self.request("GET", f"/applications/{name or self.config.app}")
        return result

    async def subscribe(self, sources: list[str]) -> None:
        """Have this client's application receive the events of channels or bridges
        (``channel:ID``, ``bridge:ID``) that are in another application."""
        await self.request(
            "POST", f"/applications/{self.config.app}/subscription", eventSource=",".join(sources)
        )

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int
    ) -> None:
        """Let a channel leave the application and go on in the dialplan at that place."""
        await self.request(
            "POST",
            f"/channels/{channel_id}/continue",
            context=context,
            extension=extension,
            priority=priority,
        )

    async def move(self, channel_id: str, app_args: str) -> None:
        """Move a channel from the application it is in into this client's application."""
        await self.request(
            "POST", f"/channels/{channel_id}/move", app=self.config.app, appArgs=app_args
        )


async def quietly(step: Awaitable[None]) -> None:
    """Run an ARI clean-up step; a leg or bridge that is already gone (404, 400) is fine."""
    try:
        await step
    except AriError as error:
        if error.status not in (404, 400):
            log.warning("clean-up step failed: %s", error)
    except Exception:
        log.exception("clean-up step failed")


async def bridge_caller_and_seat(
    ari: AriClient, bridge_id: str, caller: str, seat_leg: str
) -> None:
    """Put a caller (off hold) and its seat's leg in a new mixing bridge, both in one
    request. Their keys reach the app, not each other: the caller never hears the seat's
    feature codes, and nothing on this line asks a caller to key for the seat."""
    await ari.create_bridge(bridge_id, name=f"call {caller}")
    with contextlib.suppress(AriError):
        await ari.stop_moh(caller)
    await ari.add_to_bridge(bridge_id, caller, seat_leg, absorb_dtmf=True)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def event_stream(config: AriConfig) -> AsyncIterator[Event]:
    """Yield the app's events from the ARI websocket until it closes, starting with a
    ``{"type": CONNECTED}`` marker as soon as the connection is up.

    Connecting registers the Stasis application: while no stream is open, Asterisk's
    ``Stasis()`` fails and the dialplan's fallback takes the call.
    """
    parts = urlsplit(config.url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/events?app={config.app}"
    token = base64.b64encode(f"{config.user}:{config.password}".encode()).decode()
    async with websockets.connect(
        url,
        additional_headers={"Authorization": f"Basic {token}"},
        max_size=2**22,
        ping_interval=20,
        ping_timeout=20,
    ) as socket:
        yield {"type": CONNECTED}
        async for message in socket:
            try:
                yield json.loads(message)
            except json.JSONDecodeError:
                log.warning("ignored a non-JSON ARI message: %.200r", message)
