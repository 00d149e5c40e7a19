"""A long-running service's garbage collector, kept out of the calls' way.

CPython's full collection walks every object the process holds. A service holds hundreds of
thousands from its start (modules, the site, the SQL engine's metadata) that live as long as
it does; walking them stalled the application's event loop for 240 ms at 50 calls/s
(measured with a ``gc.callbacks`` probe during ``benchmarks.queue_path``), and every new
caller's events waited behind it. Freezing them once started leaves the collector only the
objects of the calls themselves.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then move every object the process holds now out of the collector's
    reach (call it when the service has started, before it serves)."""
    gc.collect()
    gc.freeze()
