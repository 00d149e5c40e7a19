"""A line of several PBX nodes on one machine: the line's Redis and database, each node's
Asterisk and services (in the node's own part of the state), and Kamailio in front of them,
brought up together and brought down together. Used by the tests and the demo; a site on
several machines runs the same parts with ``hotline services up --node NAME`` on each."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.paths import Paths
from core.site import Site
from core.stores import database_url
from hotline import services
from hotline.edge import Edge
from hotline.redis_server import PrivateRedis
from hotline.schema import migrate
from hotline.stack import Stack


@dataclass
class Line:
    """Every node of the site's ``[[nodes]]``, its edge and its stores."""

    site: Site
    site_file: Path
    paths: Paths
    nodes: dict[str, Stack] = field(init=False)
    edge: Edge = field(init=False)
    redis: PrivateRedis = field(init=False)
    supervised: bool = False
    """Each node's services and Asterisk run under the node's own supervisor, which starts
    again any that dies (as ``hotline services up --node NAME`` on a node's machine); else
    they run on their own, for the tests that kill and start them on purpose."""

    def __post_init__(self) -> None:
        if self.site.edge is None:
            raise ValueError("the site file has no [edge] and [[nodes]]: it is a one-PBX line")
        self.paths.ensure()
        self.redis = PrivateRedis(self.paths)
        self.nodes = {
            node.name: Stack(
                self.site.on_node(node.name), self.site_file, self.paths.of_node(node.name)
            )
            for node in self.site.nodes
        }
        self.edge = Edge(self.site, self.paths)

    def up(self) -> None:
        """The stores, then every node (its Asterisk, front door, monitor, app processes),
        then the edge that hands them calls."""
        self.redis.up()
        migrate(database_url(self.paths))
        for stack in self.nodes.values():
            if self.supervised:
                stack.up_supervised()
            else:
                stack.up()
        self.edge.up()

    def start_web(self, timeout: float = 30.0) -> str:
        """Start the line's web app (admin API, seat consoles, dashboard) and wait until it
        answers; its address."""
        address = services.start_web(self.paths, self.site, self.site_file, timeout)
        if address is None:
            raise RuntimeError(f"the web app did not start; see {self.paths.logs / 'web.log'}")
        return address

    def down(self) -> None:
        """Everything, even when a part fails to stop (the first failure is raised after)."""
        with contextlib.ExitStack() as stops:
            stops.callback(self.redis.down)
            for stack in self.nodes.values():
                stops.callback(stack.down)
            stops.callback(self.edge.down)
            stops.callback(services.stop, self.paths, "web")


def node_address(index: int) -> str:
    """The loopback address of the ``index``-th node (from 0) of a line on one machine."""
    return f"127.0.0.{11 + index}"


def on_nodes(text: str, count: int, edge: tuple[str, int]) -> str:
    """A one-PBX site file's text as a line of ``count`` nodes on this machine behind an
    edge at ``edge`` (each node on its own loopback address, its services there too); SIP
    over TLS and WebSocket (the browser phones) move to the edge."""
    moved = ""
    for key in ("tls_port", "wss_port"):
        port = re.search(rf"(?m)^{key}\s*=\s*(\d+).*$", text)
        if port is not None:
            text = text.replace(port.group(0), "")
            moved += f"{key} = {port.group(1)}\n"
    text = text.rstrip("\n") + f'\n\n[edge]\naddress = "{edge[0]}"\nport = {edge[1]}\n'
    text += moved
    for index in range(count):
        address = node_address(index)
        text += (
            f'\n[[nodes]]\nname = "pbx-{chr(ord("a") + index)}"\naddress = "{address}"\n'
            f'services = "{address}"\n'
        )
    return text
