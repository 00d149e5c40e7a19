"""The ARI application names of the Stasis application's processes: ``hotline`` for the
first, ``hotline-2``, ``hotline-3``... for the others (``services.app_processes``). The
dialplan spreads calls over them; each process registers its own name."""

from __future__ import annotations

from core.site import Site

STASIS_APP = "hotline"


def stasis_app_name(instance: int = 1) -> str:
    """The ARI application name of one Stasis app process."""
    return STASIS_APP if instance == 1 else f"{STASIS_APP}-{instance}"


def stasis_app_names(site: Site) -> list[str]:
    """Every application process's name."""
    return [stasis_app_name(n) for n in range(1, site.services.app_processes + 1)]
