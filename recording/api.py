"""The recordings API, mounted by hotline.web: a recording's details and its audio, for
admins and supervisors, and for a seat's console only for the seat's own calls. Every
play and download is written to the audit log before a byte is sent.

(No ``from __future__ import annotations``: FastAPI must see the dependencies.)
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import FileResponse

from core import clock
from recording.files import MEDIA_TYPE, ogg_seconds
from recording.service import RecordingFile, Recordings

VIEWERS = frozenset({"admin", "supervisor"})


def router(
    recordings: Recordings, identify: Callable[[str | None], str | None], viewer_of: Any
) -> APIRouter:
    """Recording routes. ``identify(authorization)`` says whose token a request brings
    (``admin``, ``supervisor``, ``seat:<id>``, or None); ``viewer_of`` admits admins and
    supervisors only."""
    api = APIRouter(tags=["recordings"])
    Viewer = Annotated[str, Depends(viewer_of)]

    def allowed(recording_id: int, authorization: str | None) -> tuple[RecordingFile, str]:
        who = identify(authorization)
        if who is None:
            raise HTTPException(
                401,
                "send 'Authorization: Bearer <supervisor or admin token>', or the console "
                "token of the seat that took the call",
            )
        found = recordings.find(recording_id)
        if found is None:
            raise HTTPException(404, f"no recording {recording_id}")
        if who not in VIEWERS and who != f"seat:{found.seat_id}":
            raise HTTPException(403, "a seat may hear only the recordings of its own calls")
        return found, who

    @api.get("/api/recordings/{recording_id}")
    def details(recording_id: int, _: Viewer) -> dict[str, Any]:
        """A recording: its call, state, length, and who played or downloaded it."""
        found = recordings.find(recording_id)
        if found is None:
            raise HTTPException(404, f"no recording {recording_id}")
        seconds = ogg_seconds(found.path) if found.path is not None else None
        return {
            "id": found.id,
            "call": found.caller_channel,
            "seat": found.seat_id,
            "state": found.state,
            "seconds": seconds,
            "audio": f"/api/recordings/{found.id}/audio",
            "accesses": recordings.accesses(found.id),
        }

    @api.get("/api/recordings/{recording_id}/audio")
    def audio(
        recording_id: int,
        authorization: Annotated[str | None, Header()] = None,
        download: Annotated[bool, Query(description="as an attachment")] = False,
    ) -> FileResponse:
        """The recording's audio (Ogg Vorbis) to play, or to download with ``download=1``."""
        found, who = allowed(recording_id, authorization)
        if found.path is None or not found.path.is_file():
            state = "deleted after the retention" if found.state == "deleted" else found.state
            raise HTTPException(410, f"recording {recording_id} has no audio: {state}")
        action = "download" if download else "play"
        recordings.note_access(found.id, who, action, clock.now())
        name = f"call-{found.caller_channel}-{found.id}.ogg"
        return FileResponse(
            found.path,
            media_type=MEDIA_TYPE,
            filename=name if download else None,
            content_disposition_type="attachment" if download else "inline",
        )

    return api
