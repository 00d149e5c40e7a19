"""The rig's network: an address a browser phone's audio can use on this machine."""

from __future__ import annotations

import subprocess


def browser_media_address() -> str | None:
    """A non-loopback IPv4 address of this machine: Asterisk gives a browser no loopback
    address as its ICE candidate. Without one, a veth pair is made for it (root only);
    None if that cannot be done (the browser-phone test then says so)."""
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    for line in shown.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    try:
        for command in (
            "ip link add hotline-rtc type veth peer name hotline-rtc1",
            "ip addr add 10.213.77.1/30 dev hotline-rtc",
            "ip link set hotline-rtc up",
            "ip link set hotline-rtc1 up",
        ):
            subprocess.run(command.split(), check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return None
    return "10.213.77.1"
