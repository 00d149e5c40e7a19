"""The web app: the admin API (authenticated), served by ``hotline web``.

Every ``/api`` route needs ``Authorization: Bearer <token>``; the admin token is generated per
installation (``secrets.json``, or ``HOTLINE_ADMIN_TOKEN``). A person can name themselves with
``X-Actor: alice`` so the audit log says who made a change.
"""

from __future__ import annotations

import re
import secrets as tokens
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from redis.asyncio import Redis as AsyncRedis

from hotline.paths import Paths
from hotline.redis_server import redis_url
from hotline.secrets import Secrets
from hotline.site import Site
from queues.api import router as seats_router
from queues.seats import SeatPool
from redlist.api import router as redlist_router
from redlist.service import RedList

_ACTOR = re.compile(r"[^\w.@-]")


def create_app(site: Site, paths: Paths) -> FastAPI:
    """The FastAPI application for one installation."""
    secrets = Secrets.load_or_create(paths.secrets_file)
    red_list = RedList.for_installation(site, paths)

    def actor(
        authorization: Annotated[str | None, Header()] = None,
        x_actor: Annotated[str | None, Header()] = None,
    ) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not tokens.compare_digest(
            token.encode(), secrets.admin_token.encode()
        ):
            raise HTTPException(
                401,
                "send 'Authorization: Bearer <admin token>' (see secrets.json)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        person = _ACTOR.sub("", x_actor or "")[:40]
        return f"admin:{person}" if person else "admin"

    app = FastAPI(title="hotline", summary="The 12345 enterprise service line: admin API.")
    app.include_router(redlist_router(red_list, actor))
    app.include_router(seats_router(site, SeatPool(AsyncRedis.from_url(redis_url(paths))), actor))

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
