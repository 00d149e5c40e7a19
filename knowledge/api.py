"""The knowledge base API, mounted by hotline.web: the desk's search (any seat's console
token, the supervisor's or the admin's), and the admin's changes, each in the audit log.

(No ``from __future__ import annotations``: FastAPI must see the dependencies.)
"""

import asyncio
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from core import clock
from knowledge.service import KnowledgeBase
from redlist.api import uploaded_file
from redlist.importer import ImportRefused


class EntryIn(BaseModel):
    title: str = Field(max_length=200)
    text: str = Field(max_length=20_000)
    matter: str | None = Field(default=None, max_length=6)
    department: str | None = Field(default=None, max_length=40)
    keywords: str = Field(default="", max_length=500)
    valid_from: date | None = None
    valid_to: date | None = None


def _refused(refused: ImportRefused) -> HTTPException:
    return HTTPException(422, [{"line": p.line, "problem": p.message} for p in refused.problems])


def router(
    base: KnowledgeBase,
    timezone: ZoneInfo,
    person_of: Any,
    actor_of: Any,
) -> APIRouter:
    """Knowledge routes: ``person_of`` admits anyone with a token of the installation (the
    search); ``actor_of`` the admin only (changes, named for the audit log)."""
    api = APIRouter(tags=["knowledge"])
    Actor = Annotated[str, Depends(actor_of)]
    Person = Annotated[str, Depends(person_of)]

    @api.get("/api/knowledge")
    async def search(
        _: Person,
        q: Annotated[str, Query(max_length=200)] = "",
        matter: Annotated[str | None, Query(max_length=6)] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> list[dict[str, Any]]:
        """The entries that answer a question, best first, valid today (of ``matter`` if
        given); the question's words in ``<mark>`` in the title and snippet. Without a
        question, a matter's entries."""
        if not q.strip() and matter is None:
            raise HTTPException(422, "ask a question (q), or name a matter (matter)")
        today = clock.now().astimezone(timezone).date()
        return await asyncio.to_thread(base.search, q, today, matter, limit)

    @api.get("/api/knowledge/{code}")
    def entry(code: str, _: Person) -> dict[str, Any]:
        """One entry and every change made to it."""
        found = base.get(code)
        if found is None:
            raise HTTPException(404, f"no knowledge entry {code}")
        return found

    @api.put("/api/knowledge/{code}")
    async def put(code: str, body: EntryIn, actor: Actor) -> dict[str, Any]:
        """Add or change an entry (checked like a one-row import)."""
        fields = body.model_dump(exclude_none=True)
        for day in ("valid_from", "valid_to"):
            if day in fields:
                fields[day] = fields[day].isoformat()
        try:
            return await asyncio.to_thread(base.put, code, fields, actor, clock.now())
        except ImportRefused as refused:
            raise _refused(refused) from None

    @api.delete("/api/knowledge/{code}")
    async def delete(code: str, actor: Actor) -> Response:
        if not await asyncio.to_thread(base.delete, code, actor, clock.now()):
            raise HTTPException(404, f"no knowledge entry {code}")
        return Response(status_code=204)

    @api.post("/api/knowledge/import")
    async def import_file(request: Request, actor: Actor) -> dict[str, int]:
        """Import a CSV (UTF-8 or GB18030) or JSON file, as the body or a form's one file.
        All or nothing: a 422 lists every bad line."""
        with await uploaded_file(request) as upload:
            try:
                return await asyncio.to_thread(base.import_file, upload, actor, clock.now())
            except ImportRefused as refused:
                raise _refused(refused) from None

    return api
