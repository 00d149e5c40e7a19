"""The red list's tiers and how far ahead each goes in the queue."""

from __future__ import annotations

from enum import StrEnum


class RedListTier(StrEnum):
    """How far ahead a red-list firm's calls go. More tiers can be added below; the
    priority is what the queue (and Asterisk's fallback ``QUEUE_PRIO``) uses."""

    KEY_FIRM = "key-firm"

    @property
    def priority(self) -> int:
        return TIER_PRIORITY[self]


TIER_PRIORITY: dict[RedListTier, int] = {RedListTier.KEY_FIRM: 10}
