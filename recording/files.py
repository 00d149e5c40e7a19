"""The recordings on disk: where they are, what a call's file is called, how long one is
and how much room is left. Asterisk writes them (Ogg Vorbis, 8 kHz mono: about 1 KB a
second); nothing here talks to Asterisk."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from core.paths import Paths
from core.site import Site

FORMAT = "ogg"
"""Asterisk's ``format_ogg_vorbis``: compressed, and played by every current browser."""
MEDIA_TYPE = "audio/ogg"


def directory(site: Site, paths: Paths) -> Path:
    """Where this installation's recordings are (the host's view; Asterisk sees it as its
    spool's ``recording`` directory, ``hotline.pbx`` mounts a configured one there)."""
    return site.recordings.dir or spool_directory(paths)


def spool_directory(paths: Paths) -> Path:
    """Asterisk's own recordings directory in the installation's state."""
    return paths.asterisk / "spool" / "recording"


ASTERISK_QUEUE = "asterisk-queue"
"""Where the calls Asterisk's own queue put through are recorded (by the queue itself, while
no app process serves): ``asterisk-queue/<the caller's channel>``."""


def asterisk_queue_name(channel: str) -> str:
    """The recording's name of a call Asterisk's queue put through."""
    return f"{ASTERISK_QUEUE}/{channel}"


def name_for(bridge: str, at: datetime) -> str:
    """The name a call's recording gets: the day it started (UTC) and its bridge's id,
    so that a directory holds one day and a name is never used twice."""
    return f"{at:%Y/%m/%d}/{bridge}"


def file_of(root: Path, name: str) -> Path:
    """The file of a recording named ``name`` under ``root``."""
    return root / f"{name}.{FORMAT}"


def free_mb(root: Path) -> float:
    """Megabytes free where the recordings go (0 if the directory cannot be read)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(root).free / 1_000_000
    except OSError:
        return 0.0


def ogg_seconds(path: Path) -> float | None:
    """The length of an Ogg Vorbis file, from its last page's granule position (samples)
    and the rate in its identification header; None if it is not one or has no audio."""
    try:
        with path.open("rb") as file:
            head = file.read(64)
            size = file.seek(0, 2)
            file.seek(max(0, size - 65536))
            tail = file.read()
    except OSError:
        return None
    marker = head.find(b"\x01vorbis")
    if not head.startswith(b"OggS") or marker < 0 or len(head) < marker + 16:
        return None
    rate = int.from_bytes(head[marker + 12 : marker + 16], "little")
    last = tail.rfind(b"OggS")
    if rate <= 0 or last < 0 or len(tail) < last + 14:
        return None
    granule = int.from_bytes(tail[last + 6 : last + 14], "little", signed=True)
    return round(granule / rate, 3) if granule > 0 else 0.0
