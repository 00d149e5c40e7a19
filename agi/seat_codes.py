"""Feature codes a seat dials on its own phone to change its state.

======  ===========================================
``*41``  log in: the seat is offered calls
``*42``  log out
``*43``  pause (reason ``phone``)
``*44``  resume after a pause
======  ===========================================

The seat is the phone's own PJSIP endpoint; the code is confirmed by a short prompt.
"""

from __future__ import annotations

import logging
import re

from agi.front_door import AgiRequest
from queues.seats import LOGGED_OUT, SeatPool

log = logging.getLogger(__name__)

_ENDPOINT = re.compile(r"^PJSIP/(.+)-[0-9a-f]+$")


def seat_of(channel: str) -> str | None:
    """The endpoint name in a channel name like ``PJSIP/1001-0000002a``."""
    match = _ENDPOINT.match(channel)
    return match.group(1) if match else None


async def apply_code(request: AgiRequest, seats: SeatPool, site_seats: set[str]) -> str | None:
    """Apply the feature code of this call; return what was done, or None."""
    seat = seat_of(request.headers.get("agi_channel", ""))
    code = request.headers.get("agi_arg_1", "")
    if seat not in site_seats or seat is None:
        log.warning(
            "feature code %r from %r, which is not a seat", code, request.headers.get("agi_channel")
        )
        return None
    if code == "*41" or code == "*44":
        await seats.resume(seat)
    elif code == "*42":
        await seats.pause(seat, LOGGED_OUT)
    elif code == "*43":
        await seats.pause(seat, "phone")
    else:
        return None
    found, sounds = (await request.send_command("GET FULL VARIABLE ${HOTLINE_SOUNDS}")).get(
        "result", ("0", "")
    )
    await request.send_command("ANSWER")
    await request.send_command(f'STREAM FILE {sounds if found == "1" else "hotline"}/seat-done ""')
    log.info("seat %s keyed %s", seat, code)
    return f"{seat} {code}"
