"""`POST /auth`: checking credentials against a registry, as `docker login` asks."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from daemon.images.registry.auth import AuthConfig
from daemon.images.registry.client import RegistryClient, Timeouts
from daemon.images.registry.endpoints import (
    DOCKER_HUB_SERVER_ADDRESS,
    RegistryConfig,
    normalize_domain,
)
from daemon.images.registry.errors import RegistryAuthError

LOGIN_SUCCEEDED = "Login Succeeded"


@dataclass(frozen=True)
class LoginResult:
    status: str  # always LOGIN_SUCCEEDED: a refusal raises instead
    identity_token: str = ""  # a refresh token, when the registry's token server gave one


async def login(
    auth: AuthConfig,
    *,
    config: RegistryConfig | None = None,
    timeouts: Timeouts | None = None,
    session: aiohttp.ClientSession | None = None,
) -> LoginResult:
    """Checks `auth` against its registry (`serveraddress`, default Docker Hub).

    Raises RegistryAuthError, worded as dockerd words a failed login.
    """
    domain = normalize_domain(auth.serveraddress or DOCKER_HUB_SERVER_ADDRESS)
    async with RegistryClient(
        domain, config=config, credentials=auth, timeouts=timeouts, session=session, push=True
    ) as client:
        endpoint = await client.ping()
        challenge = client.authenticator.challenge
        url = f"{endpoint.base_url}/v2/"
        if challenge is None:
            return LoginResult(LOGIN_SUCCEEDED)  # the registry asks for no credentials
        if challenge.scheme == "basic":
            try:
                await client.check_access()
            except RegistryAuthError as exc:
                status = exc.status or 401
                reason = "Unauthorized" if status == 401 else "Forbidden"
                raise RegistryAuthError(
                    f"login attempt to {url} failed with status: {status} {reason}",
                    status=status,
                ) from None
            return LoginResult(LOGIN_SUCCEEDED)
        if not auth.has_credentials:
            raise RegistryAuthError(
                f'Get "{url}": unauthorized: username and password required', status=401
            )
        await client.check_access()
        return LoginResult(LOGIN_SUCCEEDED, client.authenticator.refresh_token)
