"""Caller numbers as they arrive from the network or from an office's spreadsheet.

:func:`safe_number` makes anything safe to store and show. :func:`normalise` brings a Chinese
phone number to one canonical national form so that the same phone always finds the same
company, however it was written: ``+86 21 6100 1001``, ``0086-21-61001001``,
``(021)61001001 转 123`` and, with the site's area code 21, ``6100 1001`` all become
``02161001001``; mobiles become their 11 digits.
"""

from __future__ import annotations

import re

_NOT_DIALABLE = re.compile(r"[^0-9]")
# what starts an extension: 转 / 分机 / ext / x / # / , / ; / p / w, then digits
_EXTENSION = re.compile(r"(转|分机|ext\.?|x|#|,|;|p|w).*$", re.IGNORECASE)
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SERVICE = re.compile(r"^(1[0-2][0-9]{3}|95[0-9]{3,6}|400[0-9]{7}|800[0-9]{7})$")


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


def _is_landline(digits: str) -> bool:
    """``0`` + area code + subscriber: 2-digit areas (10, 2x) take 8 digits, others 7 or 8."""
    if not digits.startswith("0") or len(digits) < 10:
        return False
    if digits[1] in "12":
        return len(digits) == 11
    return len(digits) in (11, 12)


def normalise(raw: object, area_code: str | None = None) -> str | None:
    """The canonical national form of a Chinese number, or None if it is not a plausible one.

    Mobile: 11 digits (``13800138000``). Landline: ``0`` + area code + subscriber
    (``02161001001``); a subscriber number alone gets the site's ``area_code``. Service
    numbers (``12345``, ``95xxx``, ``400``/``800``) stay as they are. Extensions are dropped.
    """
    if not isinstance(raw, str):
        return None
    text = _EXTENSION.sub("", raw.strip()[:64])
    international = text.startswith("+") or text.startswith("00")
    groups = [g for g in re.split(r"[^0-9]+", text) if g]
    digits = "".join(groups)
    if international:
        digits = digits.lstrip("0") if text.startswith("00") else digits
        if not digits.startswith("86"):
            return None  # a foreign number: no Chinese company is registered under it
        digits = digits[2:]
        if not _MOBILE.match(digits):
            digits = "0" + digits.lstrip("0")
    elif digits.startswith("86") and len(digits) in (12, 13) and not _is_landline(digits):
        rest = digits[2:]
        digits = rest if _MOBILE.match(rest) else "0" + rest
    candidates = [digits]
    # "021-61001001-123": a trailing dash group may be an extension
    if len(groups) >= 2 and len(groups[-1]) <= 5 and not international:
        candidates.append("".join(groups[:-1]))
    for candidate in candidates:
        if _MOBILE.match(candidate) or _is_landline(candidate) or _SERVICE.match(candidate):
            return candidate
        if area_code and len(candidate) in (7, 8) and candidate[0] != "0":
            with_area = f"0{area_code}{candidate}"
            if _is_landline(with_area):
                return with_area
    return None


def written_forms(number: str, area_code: str | None = None) -> set[str]:
    """Every way a canonical number (from :func:`normalise`) reaches the hotline as a caller
    ID once made safe (:func:`safe_number`): national, with ``+86``, ``0086`` or ``86``, and a
    landline of the site's own area without its area code.

    ``02162345678`` with area code 21: ``02162345678``, ``+862162345678``,
    ``00862162345678``, ``862162345678``, ``62345678``.
    """
    if _SERVICE.match(number):
        return {number}
    national = number[1:] if number.startswith("0") else number
    forms = {number, f"+86{national}", f"0086{national}", f"86{national}"}
    if area_code and number.startswith(f"0{area_code}") and _is_landline(number):
        forms.add(number[1 + len(area_code) :])
    return forms
