"""Swarm-mode endpoints of a node that is in no swarm, as dockerd answers them then.

moorage runs no swarm mode. Clients ask anyway (`docker info`, the SDK's tests
leave a swarm before they start, `docker node ls`): dockerd's answers for an
inactive node tell them what they need, with its status (503) and texts.
Creating or joining a swarm is refused plainly.
"""

from __future__ import annotations

from aiohttp import web

from daemon import errors

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
NOT_IN_A_SWARM = "This node is not part of a swarm"


async def not_a_manager(request: web.Request) -> web.Response:
    raise errors.Unavailable(NOT_A_MANAGER)


async def leave(request: web.Request) -> web.Response:
    raise errors.Unavailable(NOT_IN_A_SWARM)


async def no_swarm_mode(request: web.Request) -> web.Response:
    raise errors.NotImplemented("moorage does not run swarm mode")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/swarm/leave", leave)
    router.add_post("/swarm/init", no_swarm_mode)
    router.add_post("/swarm/join", no_swarm_mode)
    router.add_get("/swarm", not_a_manager)
    router.add_get("/swarm/unlockkey", not_a_manager)
    router.add_post("/swarm/update", not_a_manager)
    router.add_post("/swarm/unlock", not_a_manager)
    for kind in ("nodes", "services", "tasks", "secrets", "configs"):
        router.add_route("*", f"/{kind}", not_a_manager)
        router.add_route("*", f"/{kind}/{{rest:.*}}", not_a_manager)
