"""Caller numbers as they arrive from the network: anything, including garbage."""

from __future__ import annotations

import re

_NOT_DIALABLE = re.compile(r"[^0-9]")


def safe_number(raw: object) -> str:
    """A caller number that is safe to store, log and show: digits with an optional leading
    ``+``, at most 32 characters, or ``"anonymous"`` when nothing dialable is left.

    Never raises: a malformed caller ID must not break a call.
    """
    text = raw if isinstance(raw, str) else ""
    text = text.strip()
    plus = "+" if text.startswith("+") else ""
    digits = _NOT_DIALABLE.sub("", text)[:32]
    return f"{plus}{digits}" if digits else "anonymous"
