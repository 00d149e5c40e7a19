"""The transfer plan in memory, for the calls: where each matter goes, without a trip to the
database when a seat keys a matter.

It is read from SQL when the application starts, again when the plan changes (the admin API
says so on the commands channel: ``plan-changed``) and every :data:`REFRESH` seconds. If the
database cannot be read, the plan in memory goes on serving.
"""

from __future__ import annotations

import asyncio
import logging

from transfer.plan import TransferPlan
from transfer.state import Route

log = logging.getLogger(__name__)

REFRESH = 60.0
PLAN_CHANGED = "plan-changed"
"""The command the admin API sends when a department or a matter changed."""


class Routes:
    """Every matter's route, kept in memory."""

    def __init__(self, plan: TransferPlan) -> None:
        self.plan = plan
        self._routes: dict[str, Route] = {}

    def route(self, matter: str) -> Route | None:
        """Where a transfer for ``matter`` goes; None for a code not in the plan."""
        return self._routes.get(matter)

    async def refresh(self) -> None:
        """Read the plan again (an unreadable database keeps the plan in memory)."""
        try:
            self._routes = await asyncio.to_thread(self.plan.routes)
        except Exception as error:
            log.warning("could not read the transfer plan (%s); keeping the one in memory", error)

    async def keep_fresh(self) -> None:
        """Refresh every :data:`REFRESH` seconds, forever."""
        while True:
            await self.refresh()
            await asyncio.sleep(REFRESH)
