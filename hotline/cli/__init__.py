"""The ``hotline`` command line: one module per command group (``hotline.cli.<group>``),
all registered on :data:`app` (``hotline.cli.root``)."""

from hotline.cli import (  # noqa: F401  (each registers its commands)
    clock_control,
    database,
    edge,
    pbx,
    redlist,
    report,
    rig,
    seats,
    services,
    sip,
    sitefile,
)
from hotline.cli.root import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app(prog_name="hotline")
