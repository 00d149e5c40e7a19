"""Scenario files: a population of rig phones and callers with an arrival pattern (TOML).

name = "two-callers"
[[phones]]
seat = "1001"              # a seat of the site (or number = "..." for a specialist phone)
behaviour = "answer"       # answer | busy | ring
answer_after = 1.0         # seconds of ringing before answering
hold = 4.0                 # hang up after this many seconds of talk (omit: wait for the other side)
keys = [{ at = 2.0, digits = "*2#" }]

[[callers]]
number = "1380013{n:04d}"  # {n} counts 0, 1, 2... for a batch
count = 10                 # a batch of callers...
at = 0.0                   # ...the first arriving this many seconds in
every = 0.5                # ...then one every 0.5 s
hold = 6.0
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from core.site import Site
from rig.orchestrator import Behaviour, CallerSpec, KeyPress, PhoneSpec, Scenario

_PHONE_KEYS = {"seat", "number", "behaviour", "answer_after", "hold", "keys"}
_CALLER_KEYS = {"number", "count", "at", "every", "hold", "keys", "dial", "source"}


class ScenarioError(Exception):
    """A scenario file that cannot be played."""


def _port_of(contact: str) -> int:
    tail = contact.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 5060


def _keys(raw: list[dict[str, Any]], where: str) -> tuple[KeyPress, ...]:
    try:
        return tuple(KeyPress(float(k["at"]), str(k["digits"])) for k in raw)
    except (KeyError, TypeError, ValueError):
        raise ScenarioError(f"{where}.keys: each entry needs 'at' (seconds) and 'digits'") from None


def parse_scenario(data: dict[str, Any], site: Site, source: str = "<scenario>") -> Scenario:
    """Resolve a parsed scenario against the site (phones' ports come from its contacts)."""
    contacts = {seat.id: seat.contact for seat in site.seats}
    contacts.update({phone.number: phone.contact for phone in site.phones})
    phones = []
    for i, raw in enumerate(data.get("phones", [])):
        where = f"{source}: phones[{i}]"
        unknown = set(raw) - _PHONE_KEYS
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        name = raw.get("seat") or raw.get("number")
        if not name or not contacts.get(str(name)):
            raise ScenarioError(
                f"{where}: '{name}' is not a seat or phone of the site with a fixed contact"
            )
        try:
            behaviour = Behaviour(raw.get("behaviour", "answer"))
        except ValueError:
            raise ScenarioError(f"{where}.behaviour: must be answer, busy or ring") from None
        phones.append(
            PhoneSpec(
                name=str(name),
                port=_port_of(str(contacts[str(name)])),
                behaviour=behaviour,
                answer_after=float(raw.get("answer_after", 1.0)),
                hold=float(raw["hold"]) if "hold" in raw else None,
                keys=_keys(raw.get("keys", []), where),
            )
        )
    callers = []
    for i, raw in enumerate(data.get("callers", [])):
        where = f"{source}: callers[{i}]"
        unknown = set(raw) - _CALLER_KEYS
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        count, every, at = (
            int(raw.get("count", 1)),
            float(raw.get("every", 1.0)),
            float(raw.get("at", 0.0)),
        )
        for n in range(count):
            callers.append(
                CallerSpec(
                    number=str(raw.get("number", "13800000000")).format(n=n),
                    at=at + n * every,
                    hold=float(raw["hold"]) if "hold" in raw else None,
                    keys=_keys(raw.get("keys", []), where),
                    dial=str(raw.get("dial", site.hotline_numbers[0])),
                    source=raw.get("source"),
                )
            )
    if not callers:
        raise ScenarioError(f"{source}: a scenario needs at least one [[callers]] entry")
    return Scenario(
        str(data.get("name", Path(source).stem)),
        tuple(phones),
        tuple(callers),
        str(data.get("description", "")),
    )


def load_scenario(path: Path, site: Site) -> Scenario:
    """Read a scenario file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: cannot be read: {error}") from None
    return parse_scenario(data, site, str(path))
