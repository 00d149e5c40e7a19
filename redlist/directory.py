"""Who is calling: the caller directory in Redis, rebuilt from SQL and kept in step with it.

One Redis hash maps every registered phone number (normalised) to its company and red-list
standing. The front door asks it once per call; SQL stays the source of truth.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import keys
from redlist.models import Enterprise, EnterprisePhone, RedListEntry
from redlist.tiers import RedListTier

CALLERS = keys.CALLERS
_UNSAFE = re.compile(r"[\"'\\;,|<>\n\r\t`$]")


class CallerKind(StrEnum):
    ENTERPRISE = "enterprise"
    CITIZEN = "citizen"
    UNKNOWN = "unknown"


def display_safe(name: str, limit: int = 40) -> str:
    """A company name safe for channel variables, SIP display names and logs: no quotes,
    separators or control characters, at most ``limit`` characters."""
    cleaned = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return _UNSAFE.sub("", cleaned).strip()[:limit]


@dataclass(frozen=True)
class CallerIdentity:
    """What the front door knows about a caller."""

    kind: CallerKind
    number: str | None = None
    enterprise_id: int | None = None
    name: str = ""
    tier: RedListTier | None = None

    @property
    def queue_prio(self) -> int:
        """Asterisk ``QUEUE_PRIO``: higher is answered first."""
        return self.tier.priority if self.tier else 0

    @property
    def queue(self) -> str:
        return "citizen" if self.kind is CallerKind.CITIZEN else "enterprise"


def _entry(enterprise_id: int, name: str, red: tuple[str, date | None, date | None] | None) -> str:
    tier, start, end = red or (None, None, None)
    return json.dumps(
        {
            "id": enterprise_id,
            "n": display_safe(name),
            "t": tier,
            "f": start.isoformat() if start else None,
            "u": end.isoformat() if end else None,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def identity_from(number: str, raw: bytes | str | None, today: date) -> CallerIdentity | None:
    """Decode a directory entry; a red-list entry outside its validity gives no priority."""
    if raw is None:
        return None
    data = json.loads(raw)
    tier = None
    if data.get("t"):
        starts = date.fromisoformat(data["f"]) if data.get("f") else None
        ends = date.fromisoformat(data["u"]) if data.get("u") else None
        if (starts is None or starts <= today) and (ends is None or today <= ends):
            tier = RedListTier(data["t"])
    return CallerIdentity(CallerKind.ENTERPRISE, number, int(data["id"]), str(data["n"]), tier)


def _rows(session: Session, numbers: Iterable[str] | None = None):  # type: ignore[no-untyped-def]
    query = (
        select(
            EnterprisePhone.number,
            Enterprise.id,
            Enterprise.name,
            RedListEntry.tier,
            RedListEntry.valid_from,
            RedListEntry.valid_to,
        )
        .join(Enterprise, EnterprisePhone.enterprise_id == Enterprise.id)
        .outerjoin(RedListEntry, RedListEntry.enterprise_id == Enterprise.id)
    )
    if numbers is not None:
        query = query.where(EnterprisePhone.number.in_(list(numbers)))
    return session.execute(query.execution_options(yield_per=20_000))


def rebuild(session: Session, redis: Redis, chunk: int = 20_000) -> int:
    """Rebuild the whole directory from SQL; readers see the old one until the swap."""
    staging = f"{CALLERS}:rebuilding"
    redis.delete(staging)
    count = 0
    batch: dict[Any, Any] = {}
    for number, enterprise_id, name, tier, start, end in _rows(session):
        red = (tier, start, end) if tier else None
        batch[number] = _entry(enterprise_id, name, red)
        if len(batch) >= chunk:
            redis.hset(staging, mapping=batch)
            count += len(batch)
            batch.clear()
    if batch:
        redis.hset(staging, mapping=batch)
        count += len(batch)
    if count:
        redis.rename(staging, CALLERS)
    else:
        redis.delete(CALLERS)
    return count


def refresh(session: Session, redis: Redis, numbers: Iterable[str]) -> None:
    """Bring the given numbers in step with SQL (set, change or remove them)."""
    wanted = set(numbers)
    if not wanted:
        return
    found: dict[Any, Any] = {}
    listing = sorted(wanted)
    for start in range(0, len(listing), 5000):
        for number, enterprise_id, name, tier, begin, end in _rows(
            session, listing[start : start + 5000]
        ):
            found[number] = _entry(enterprise_id, name, (tier, begin, end) if tier else None)
    pipe = redis.pipeline(transaction=True)
    if found:
        pipe.hset(CALLERS, mapping=found)
    gone = wanted - set(found)
    if gone:
        pipe.hdel(CALLERS, *gone)
    pipe.execute()


async def lookup(redis: AsyncRedis, number: str | None, today: date) -> CallerIdentity | None:
    """The registered company behind a normalised number, or None."""
    if not number:
        return None
    return identity_from(number, await redis.hget(CALLERS, number), today)


def lookup_in_sql(session: Session, number: str | None, today: date) -> CallerIdentity | None:
    """:func:`lookup` straight from SQL, the directory's source (when Redis is away)."""
    if not number:
        return None
    entry = None
    for _, enterprise_id, name, tier, start, end in _rows(session, [number]):
        entry = _entry(enterprise_id, name, (tier, start, end) if tier else None)  # as rebuilt
    return identity_from(number, entry, today)


def lookup_sync(redis: Redis, number: str | None, today: date) -> CallerIdentity | None:
    """:func:`lookup` for synchronous callers (the CLI, benchmarks)."""
    if not number:
        return None
    raw = redis.hget(CALLERS, number)
    return identity_from(number, raw if isinstance(raw, bytes | str) else None, today)
