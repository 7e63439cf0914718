"""HTTP routes, one module per resource; `routes` is the app's whole routing table."""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import body, docs, images, profiles, service, sessions, tokens

routes: list[BaseRoute] = [
    *tokens.routes,
    *profiles.routes,
    *sessions.routes,
    *images.routes,
    *body.routes,
    *service.routes,
    *docs.routes,
]
