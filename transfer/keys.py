"""What a seat's keys mean during a call. The caller never hears them (the app absorbs the
seat's DTMF in the bridge).

======================  ===============================================================
``*`` code ``#``        bring in the specialist for matter ``code`` (e.g. ``*101#``)
``*#``                  cancel the transfer that is still ringing
``*0#``                 leave the call: the caller and the specialist stay connected
``#``                   (citizen seats) move the caller to the enterprise queue
======================  ===============================================================

A code not finished within :data:`CODE_TIMEOUT` seconds is forgotten; digits keyed outside
a code mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE_TIMEOUT = 10.0
LEAVE_CODE = "0"


@dataclass(frozen=True)
class StartTransfer:
    matter: str


@dataclass(frozen=True)
class CancelTransfer:
    pass


@dataclass(frozen=True)
class LeaveCall:
    pass


@dataclass(frozen=True)
class MoveCaller:
    pass


Command = StartTransfer | CancelTransfer | LeaveCall | MoveCaller


@dataclass
class SeatKeypad:
    """Turns one seat's key presses, one at a time, into commands."""

    _code: str | None = None
    _started: float = 0.0

    def press(self, key: str, at: float) -> Command | None:
        """The command that ``key`` (pressed at ``at``, seconds) completes, if any."""
        if self._code is not None and at - self._started > CODE_TIMEOUT:
            self._code = None
        if key == "*":
            self._code, self._started = "", at
            return None
        if key == "#":
            code, self._code = self._code, None
            if code is None:
                return MoveCaller()
            if code == "":
                return CancelTransfer()
            if code == LEAVE_CODE:
                return LeaveCall()
            return StartTransfer(code)
        if key.isdigit() and self._code is not None and len(self._code) < 6:
            self._code += key
        return None
