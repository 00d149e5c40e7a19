"""Admin API for the enterprise registry and the red list (mounted by hotline.web).

(No ``from __future__ import annotations`` here: FastAPI must see the route annotations,
which use the request-scoped ``Actor`` dependency defined in :func:`router`.)"""

import tempfile
from datetime import date
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from redlist import registry
from redlist.importer import ImportRefused, check_firm
from redlist.models import Enterprise
from redlist.numbers import normalise
from redlist.service import RedList
from redlist.tiers import RedListTier


class FirmIn(BaseModel):
    phones: list[str] = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(default="", max_length=60)
    industry: str = Field(default="", max_length=60)


class RedListIn(BaseModel):
    tier: RedListTier = RedListTier.KEY_FIRM
    reason: str = Field(default="", max_length=200)
    valid_from: date | None = None
    valid_to: date | None = None


def firm_out(firm: Enterprise) -> dict[str, Any]:
    red = firm.red_list
    return {
        "id": firm.id,
        "uscc": firm.uscc,
        "name": firm.name,
        "district": firm.district,
        "industry": firm.industry,
        "phones": [p.number for p in firm.phones],
        "red_list": None
        if red is None
        else {
            "tier": red.tier,
            "reason": red.reason,
            "valid_from": red.valid_from,
            "valid_to": red.valid_to,
            "added_by": red.added_by,
            "added_at": red.added_at,
        },
    }


def router(red_list: RedList, actor_of: Any) -> APIRouter:
    """The routes, bound to one site's red list; ``actor_of`` authenticates and names the
    person making a request (a FastAPI dependency)."""
    api = APIRouter(prefix="/api", tags=["red list"])
    Actor = Annotated[str, Depends(actor_of)]

    def not_found(error: registry.RegistryError) -> HTTPException:
        return HTTPException(404, str(error))

    @api.get("/enterprises")
    def list_enterprises(
        _: Actor,
        q: str = "",
        red_only: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Search by name, credit code or phone."""
        with red_list.sessions() as session:
            total, firms = registry.search(session, q, red_only, limit, offset)
            return {"total": total, "items": [firm_out(f) for f in firms]}

    @api.get("/enterprises/{uscc}")
    def get_enterprise(uscc: str, _: Actor) -> dict[str, Any]:
        with red_list.sessions() as session:
            try:
                return firm_out(registry.get(session, uscc))
            except registry.RegistryError as error:
                raise not_found(error) from None

    @api.put("/enterprises/{uscc}")
    def put_enterprise(uscc: str, body: FirmIn, actor: Actor) -> dict[str, Any]:
        """Add or change an enterprise (checked like a one-row import)."""
        fields = {
            "uscc": uscc,
            "name": body.name,
            "phones": ";".join(body.phones),
            "district": body.district,
            "industry": body.industry,
        }
        try:
            firm = check_firm(fields, red_list.area_code)
        except ImportRefused as refused:
            raise HTTPException(422, [p.message for p in refused.problems]) from None
        try:
            summary = red_list.upsert_firm(firm, actor)
        except ImportRefused as refused:
            raise HTTPException(409, [p.message for p in refused.problems]) from None
        return {"result": str(summary)}

    @api.delete("/enterprises/{uscc}", status_code=204)
    def delete_enterprise(uscc: str, actor: Actor) -> Response:
        try:
            red_list.remove_firm(uscc, actor)
        except registry.RegistryError as error:
            raise not_found(error) from None
        return Response(status_code=204)

    @api.get("/redlist")
    def list_red_list(
        _: Actor,
        q: str = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        with red_list.sessions() as session:
            total, firms = registry.search(session, q, True, limit, offset)
            return {"total": total, "items": [firm_out(f) for f in firms]}

    @api.put("/redlist/{uscc}")
    def put_red_list(uscc: str, body: RedListIn, actor: Actor) -> dict[str, Any]:
        """Put a firm on the red list, or change its entry."""
        if body.valid_from and body.valid_to and body.valid_to < body.valid_from:
            raise HTTPException(422, "valid_to is before valid_from")
        try:
            red_list.set_red_list(
                uscc, body.tier, body.reason, body.valid_from, body.valid_to, actor
            )
        except registry.RegistryError as error:
            raise not_found(error) from None
        return get_enterprise(uscc, actor)

    @api.delete("/redlist/{uscc}", status_code=204)
    def delete_red_list(uscc: str, actor: Actor) -> Response:
        try:
            red_list.remove_from_red_list(uscc, actor)
        except registry.RegistryError as error:
            raise not_found(error) from None
        return Response(status_code=204)

    @api.post("/redlist/import")
    async def import_csv(request: Request, actor: Actor) -> dict[str, Any]:
        """Import a CSV file (UTF-8 or GB18030), sent as the request body or as a form's
        one file (``curl -F file=@firms.csv``), at most ``MAX_UPLOAD`` bytes (413 beyond:
        larger files go through ``hotline redlist import``). All or nothing: a 422 lists
        every bad line."""
        import asyncio

        with await uploaded_file(request) as upload:
            try:
                summary = await asyncio.to_thread(red_list.import_csv, upload, actor)
            except ImportRefused as refused:
                raise HTTPException(
                    422, [{"line": p.line, "problem": p.message} for p in refused.problems]
                ) from None
        return {
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "red_listed": summary.red_listed,
            "red_list_changed": summary.red_list_changed,
        }

    @api.get("/redlist/export")
    def export_csv(_: Actor, red_only: bool = True) -> Response:
        with red_list.sessions() as session:
            text = registry.export_csv(session, red_only)
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="redlist.csv"'},
        )

    @api.get("/redlist/audit")
    def audit(
        _: Actor, uscc: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        with red_list.sessions() as session:
            return [
                {
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "uscc": e.uscc,
                    "before": e.before,
                    "after": e.after,
                }
                for e in registry.audit_log(session, uscc, limit)
            ]

    @api.get("/callers/{number}")
    def caller(number: str, _: Actor) -> dict[str, Any]:
        """What the front door decides for a caller number."""
        found = red_list.identify(number)
        return {
            "number": normalise(number, red_list.area_code),
            "kind": found.kind.value,
            "enterprise_id": found.enterprise_id,
            "name": found.name,
            "tier": found.tier.value if found.tier else None,
            "queue_prio": found.queue_prio,
            "queue": found.queue,
        }

    return api


MAX_UPLOAD = 16 * 1024 * 1024
"""Bytes an uploaded red-list file may have (about 200,000 firms)."""
_TOO_LARGE = (
    f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB; import it on the server with "
    "'hotline redlist import FILE', which takes files of any size"
)


async def uploaded_file(request: Request) -> IO[bytes]:
    """The uploaded file, spooled to disk past 1 MB: the raw body, or a multipart form's
    one file. 413 past ``MAX_UPLOAD`` bytes, however the body is sent."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD + 64 * 1024:
        raise HTTPException(413, _TOO_LARGE)
    body = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - the caller closes it
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD + 64 * 1024:  # room for a form's boundaries and headers
            body.close()
            raise HTTPException(413, _TOO_LARGE)
        body.write(chunk)
    body.seek(0)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return body
    return _form_file(body, content_type)


def _form_file(body: IO[bytes], content_type: str) -> IO[bytes]:
    """The one file part of a multipart form held in ``body``."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "the form has no boundary; send the file with curl -F file=@F")
    part = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - returned open
    files = 0

    def on_part_begin() -> None:
        nonlocal files
        files += 1

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if files == 1:
            part.write(data[start:end])

    parser = MultipartParser(
        boundary, {"on_part_begin": on_part_begin, "on_part_data": on_part_data}
    )
    with body:
        while block := body.read(1 << 20):
            parser.write(block)
    parser.finalize()
    if files != 1:
        part.close()
        raise HTTPException(400, f"send one file in the form, not {files}")
    part.seek(0)
    return part
