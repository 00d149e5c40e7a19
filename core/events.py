"""Queue and seat events on Redis pub/sub, for the live dashboard and anyone else listening.

Every event is one JSON object on the ``hotline:events`` channel with a ``type``, the
moment it happened (``at``, epoch seconds) and the details of its kind:

- ``seat``: ``seat``, ``state`` (``available``, ``paused`` with ``reason``, ``resting``
  with ``seconds``);
- ``caller-joined``: ``queue``, ``caller`` (channel), ``number``, ``tier``, ``position``;
- ``seat-ringing``: ``queue``, ``caller``, ``seat``;
- ``caller-answered``: ``queue``, ``caller``, ``seat``, ``waited``;
- ``caller-left``: ``queue``, ``caller``, ``reason`` (``abandoned``, ``max-wait``,
  ``closed``, ``moved``, ``failed``), ``waited``;
- ``call-ended``: ``caller``, ``outcome``;
- ``rated``: ``caller``, ``rating`` (the caller's answer to the satisfaction survey);
- ``alert-raised``: ``department``, ``answered``, ``requests``, ``rate``, ``target``,
  ``window_minutes`` (a department's connect rate fell under the target);
- ``alert-cleared``: ``department``, ``answered``, ``requests``, ``rate``, ``target``.

Publishing is best effort: an event that cannot be sent is logged, never fails a call.
"""

from __future__ import annotations

import json
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import clock, keys

EVENTS = keys.EVENTS
COMMANDS = keys.COMMANDS

log = logging.getLogger(__name__)


async def publish(redis: Redis, kind: str, **details: object) -> None:
    """Send one event of ``kind`` with its details."""
    event = {"type": kind, "at": clock.time(), **details}
    try:
        await redis.publish(EVENTS, json.dumps(event, ensure_ascii=False))
    except RedisError as error:
        log.warning("could not publish %s event: %s", kind, error)
