"""The ARI application names of the Stasis application's processes: ``hotline`` for the
first, ``hotline-2``, ``hotline-3``... for the others (``services.app_processes``). The
dialplan spreads calls over them; each process registers its own name. On a line of several
PBX nodes the node's name is in each (``hotline.a``, ``hotline-2.a``): a name is unique on
the line, so that an offer reaches the process that can ring the seat for its caller, and a
process takes over only its own node's peers (it cannot reach another node's channels)."""

from __future__ import annotations

from core.site import Site

STASIS_APP = "hotline"


def stasis_app_name(site: Site, instance: int = 1) -> str:
    """The ARI application name of one Stasis app process."""
    name = STASIS_APP if instance == 1 else f"{STASIS_APP}-{instance}"
    return name if site.node is None else f"{name}.{site.node.name}"


def stasis_app_names(site: Site) -> list[str]:
    """Every application process's name (of the node this process serves)."""
    return [stasis_app_name(site, n) for n in range(1, site.services.app_processes + 1)]


def app_names_here(site: Site) -> str:
    """A glob of the app names that serve this PBX's calls: every one on a one-PBX line,
    this node's on a line of nodes (another node's app cannot take this node's callers)."""
    return "*" if site.node is None else f"*.{site.node.name}"


def seen_here(site: Site, channel: str) -> bool:
    """Whether this process's Asterisk is where ``channel`` lives (or lived): on a one-PBX
    line every channel; on a node, the node's own, whose ids begin with its name (Asterisk's
    ``systemname``). Another node's channel is never judged gone by a look at this one."""
    return site.node is None or channel.startswith(f"{site.node.name}-")
