"""The front door: who is calling, which tier, what the dialplan should do with the call.

Runs once per call as a FastAGI request before the call enters the Stasis application.
A caller whose number is registered is recognised silently. Anyone else hears a short menu
(Mandarin, then English): "for enterprise matters press 2". A company that presses 2 keys in
its **registered telephone number** followed by ``#`` — digits only, known to every company,
printed on its business licence filings — and is recognised by it. Doing nothing, or
pressing 1, makes the caller a citizen.

Every failure (Redis slow or down, a caller who hangs up, a garbage caller ID) ends in a
decision, never in a stuck call: the dialplan's defaults stand if this code gives up.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import clock
from redlist.directory import CallerIdentity, CallerKind, lookup
from redlist.numbers import normalise

log = logging.getLogger(__name__)

PLAIN = re.compile(r"[A-Za-z0-9_.-]*")
"""What a value set with ``MSet`` is made of: nothing its comma-separated list would split."""

ENTERPRISE_KEY = "2"
ATTEMPTS = 2


class AgiRequest(Protocol):
    """One FastAGI conversation (panoramisk's ``Request``)."""

    headers: dict[str, str]

    async def send_command(self, command: str) -> dict[str, Any]: ...


class CallerHungUp(Exception):
    """The channel went away during the menu."""


@dataclass
class FrontDoor:
    """Decides who a caller is; see the module docstring."""

    redis: Redis
    area_code: str | None
    timezone: ZoneInfo
    lookup_timeout: float = 0.5
    in_sql: Callable[[str, date], Awaitable[CallerIdentity | None]] | None = None
    """The directory's source, asked when Redis does not answer (a company is still known)."""
    sql_timeout: float = 1.0
    menu_timeout_ms: int = 5000
    number_timeout_ms: int = 7000

    def today(self) -> date:
        return clock.now().astimezone(self.timezone).date()

    async def find(self, number: str | None) -> CallerIdentity | None:
        """The registered company behind a number; None when unknown. When Redis is away the
        directory's source (SQL) is asked; when that fails too, the caller counts as unknown."""
        try:
            return await asyncio.wait_for(
                lookup(self.redis, number, self.today()), self.lookup_timeout
            )
        except (TimeoutError, RedisError, OSError, ValueError) as error:
            trouble = f"caller directory unavailable ({error!r})"
        if number and self.in_sql is not None:
            try:
                found = await asyncio.wait_for(self.in_sql(number, self.today()), self.sql_timeout)
            except Exception as error:
                trouble += f", SQL too ({error!r})"
            else:
                log.warning("%s; %s looked up in SQL", trouble, number)
                return found
        log.warning("%s; treating %s as unknown", trouble, number)
        return None

    async def identify(self, request: AgiRequest) -> CallerIdentity:
        """Recognise the caller, asking on the keypad if the number is not registered."""
        number = normalise(request.headers.get("agi_callerid", ""), self.area_code)
        known = await self.find(number)
        if known is not None:
            return known
        try:
            return await self._ask(request, number)
        except CallerHungUp:
            return CallerIdentity(CallerKind.UNKNOWN, number)

    async def serve(self, request: AgiRequest) -> CallerIdentity:
        """Identify the caller and set the channel variables the dialplan and the app use."""
        identity = await self.identify(request)
        variables = {
            "HOTLINE_CALLER_KIND": identity.kind.value,
            "HOTLINE_ENTERPRISE_ID": str(identity.enterprise_id or ""),
            "HOTLINE_ENTERPRISE_NAME": identity.name,
            "HOTLINE_TIER": identity.tier.value if identity.tier else "",
            "QUEUE_PRIO": str(identity.queue_prio),
            "HOTLINE_QUEUE": identity.queue,
            # the caller's place in line, on the installation's clock: the app reads it
            # from the channel and need not write it (one ARI request less per call)
            "HOTLINE_ARRIVED": f"{clock.time():.3f}",
        }
        # each AGI command is a round trip in the caller's path: the values made of names
        # and digits go in one; free text (a company's name) each on its own
        plain = {name: value for name, value in variables.items() if PLAIN.fullmatch(value)}
        pairs = ",".join(f"{name}={value}" for name, value in plain.items())
        await request.send_command(f'EXEC MSet "{pairs}"')
        for name, value in variables.items():
            if name not in plain:
                await request.send_command(f'SET VARIABLE {name} "{value}"')
        return identity

    # --- the keypad menu -----------------------------------------------------------------

    async def _ask(self, request: AgiRequest, number: str | None) -> CallerIdentity:
        sounds = await self._sounds(request)
        await self._command(request, "ANSWER")
        choice = await self._get_data(request, f"{sounds}/menu", self.menu_timeout_ms, 1)
        if choice != ENTERPRISE_KEY:
            return CallerIdentity(CallerKind.CITIZEN, number)
        for _ in range(ATTEMPTS):
            keyed = await self._get_data(
                request, f"{sounds}/company-number", self.number_timeout_ms, 20
            )
            company = await self.find(normalise(keyed, self.area_code))
            if company is not None:
                await self._command(request, f'STREAM FILE {sounds}/company-found ""')
                # the company as keyed, reached from the caller's own number
                return CallerIdentity(
                    CallerKind.ENTERPRISE, number, company.enterprise_id, company.name, company.tier
                )
            await self._command(request, f'STREAM FILE {sounds}/company-not-found ""')
        # said it is a company but could not be matched: still the enterprise line, no priority
        return CallerIdentity(CallerKind.UNKNOWN, number)

    async def _sounds(self, request: AgiRequest) -> str:
        found, value = (await self._command(request, "GET FULL VARIABLE ${HOTLINE_SOUNDS}")).get(
            "result", ("0", "")
        )
        return str(value) if found == "1" else "hotline"

    async def _get_data(
        self, request: AgiRequest, prompt: str, timeout_ms: int, digits: int
    ) -> str:
        result = await self._command(request, f"GET DATA {prompt} {timeout_ms} {digits}")
        keyed = str(result.get("result", ("", ""))[0])
        return "".join(ch for ch in keyed if ch.isdigit() or ch in "*#")

    @staticmethod
    async def _command(request: AgiRequest, command: str) -> dict[str, Any]:
        result = await request.send_command(command)
        if (
            result.get("error") in ("AGIAppError", "AGIUnknownError")
            or result.get("status_code") == 511
        ):
            raise CallerHungUp
        return result
