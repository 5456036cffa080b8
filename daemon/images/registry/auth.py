"""Registry credentials and authentication.

Credentials arrive in the `X-Registry-Auth` header (base64url JSON) or the
body of `POST /auth`. A registry says how it wants them in its
`WWW-Authenticate` challenge: `Basic` (send them with every request) or
`Bearer` (trade them, or nothing for anonymous access, for a token from the
realm, scoped to the repositories and actions the request needs).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from daemon.images.registry.errors import (
    RegistryAuthError,
    RegistryConnectionError,
    RegistryError,
    RegistryTimeoutError,
    describe_errors,
)

# Clients that do not say how long a token lives get this much, per the token spec.
_DEFAULT_TOKEN_LIFETIME = 60.0
_CLIENT_ID = "moorage"


@dataclass(frozen=True)
class AuthConfig:
    """What a client sent for one registry; every field may be empty."""

    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""  # a refresh token from an earlier login
    registrytoken: str = ""  # a bearer token to use as it is
    email: str = ""

    @property
    def has_credentials(self) -> bool:
        return bool(self.username and self.password) or bool(self.identitytoken)


def decode_registry_auth(header: str | None) -> AuthConfig | None:
    """Decodes an `X-Registry-Auth` header; None when absent or empty.

    Raises ValueError with dockerd's wording when the header is not base64 JSON.
    """
    if header is None or not header.strip():
        return None
    text = header.strip().replace("+", "-").replace("/", "_")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
        document = json.loads(raw)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ValueError(f"invalid X-Registry-Auth header: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("invalid X-Registry-Auth header: not a JSON object")
    return auth_config_from_json(document)


def auth_config_from_json(document: dict[str, Any]) -> AuthConfig:
    """An AuthConfig from the JSON object of `X-Registry-Auth` or `POST /auth`."""

    def text(key: str) -> str:
        value = document.get(key)
        return value if isinstance(value, str) else ""

    username, password = text("username"), text("password")
    packed = text("auth")
    if packed and not username:
        # Config files carry `auth: base64("user:password")`; some clients forward it.
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            username, _, password = base64.b64decode(packed).decode().partition(":")
    return AuthConfig(
        username=username,
        password=password,
        serveraddress=text("serveraddress"),
        identitytoken=text("identitytoken"),
        registrytoken=text("registrytoken"),
        email=text("email"),
    )


def encode_registry_auth(auth: AuthConfig) -> str:
    """The `X-Registry-Auth` value for `auth` (what docker clients send)."""
    document = {
        key: value
        for key, value in (
            ("username", auth.username),
            ("password", auth.password),
            ("serveraddress", auth.serveraddress),
            ("identitytoken", auth.identitytoken),
            ("registrytoken", auth.registrytoken),
            ("email", auth.email),
        )
        if value
    }
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic"
    params: dict[str, str] = field(default_factory=dict)


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parses `Bearer realm="...",service="...",scope="a:b:pull,push"` (one or more challenges)."""
    challenges: list[Challenge] = []
    current: Challenge | None = None
    pos, length = 0, len(value)
    while pos < length:
        if value[pos] in " \t,":
            pos += 1
            continue
        start = pos
        while pos < length and value[pos] not in " \t,=":
            pos += 1
        word = value[start:pos]
        if pos < length and value[pos] == "=" and current is not None:
            pos += 1
            if pos < length and value[pos] == '"':
                chars: list[str] = []
                pos += 1
                while pos < length and value[pos] != '"':
                    if value[pos] == "\\" and pos + 1 < length:
                        pos += 1
                    chars.append(value[pos])
                    pos += 1
                pos += 1  # the closing quote
                current.params[word.lower()] = "".join(chars)
            else:
                start = pos
                while pos < length and value[pos] not in " \t,":
                    pos += 1
                current.params[word.lower()] = value[start:pos]
        else:
            # A word not followed by `=` starts the next challenge.
            current = Challenge(word.lower(), {})
            challenges.append(current)
    return challenges


def repository_scope(repository: str, *actions: str) -> str:
    return f"repository:{repository}:{','.join(actions)}"


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """Keeps one registry's challenge and tokens; gives the Authorization header per request."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: AuthConfig | None,
        timeout: aiohttp.ClientTimeout,
    ) -> None:
        self._session = session
        self._credentials = credentials or AuthConfig()
        self._timeout = timeout
        self._challenge: Challenge | None = None
        self._tokens: dict[frozenset[str], _Token] = {}
        self.refresh_token = ""  # set when a token server hands one out (login)

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def learn(self, www_authenticate: str | None) -> Challenge | None:
        """Remembers the registry's challenge from a 401; returns it (Bearer preferred)."""
        if not www_authenticate:
            return None
        challenges = parse_www_authenticate(www_authenticate)
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is not None:
            self._challenge = chosen
        return chosen

    async def header(self, scopes: Iterable[str], *, refresh: bool = False) -> str | None:
        """The Authorization value for a request needing `scopes`, or None for none."""
        challenge = self._challenge
        creds = self._credentials
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if creds.username or creds.password:
                return basic_header(creds.username, creds.password)
            return None
        if challenge.scheme != "bearer":
            return None
        if creds.registrytoken:
            return f"Bearer {creds.registrytoken}"
        key = frozenset(scopes)
        token = self._tokens.get(key)
        if token is None or refresh or token.expires <= time.monotonic():
            token = await self._fetch_token(challenge, sorted(key))
            self._tokens[key] = token
        return f"Bearer {token.value}"

    async def _fetch_token(self, challenge: Challenge, scopes: list[str]) -> _Token:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError("registry sent a Bearer challenge without a realm")
        service = challenge.params.get("service", "")
        creds = self._credentials
        try:
            if creds.identitytoken:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identitytoken,
                    "service": service,
                    "client_id": _CLIENT_ID,
                    "scope": " ".join(scopes),
                }
                response_cm = self._session.post(realm, data=form, timeout=self._timeout)
            else:
                query: list[tuple[str, str]] = []
                if service:
                    query.append(("service", service))
                query.extend(("scope", scope) for scope in scopes)
                headers = {}
                if creds.username:
                    headers["Authorization"] = basic_header(creds.username, creds.password)
                    query.extend((("account", creds.username), ("client_id", _CLIENT_ID)))
                    # Asking for a refresh token lets a login hand back an identity token.
                    query.append(("offline_token", "true"))
                response_cm = self._session.get(
                    realm, params=query, headers=headers, timeout=self._timeout
                )
            async with response_cm as response:
                body = await response.read()
                url = str(response.url.with_query(None))
                if response.status != 200:
                    described = describe_errors(body)
                    detail = described[0] if described else None
                    if response.status in (401, 403):
                        raise RegistryAuthError(
                            f'Get "{url}": {detail or "unauthorized: authentication required"}',
                            status=response.status,
                        )
                    raise RegistryError(
                        f'Get "{url}": token server answered {response.status} '
                        f"{response.reason}" + (f": {detail}" if detail else ""),
                        status=response.status,
                    )
        except TimeoutError:
            raise RegistryTimeoutError(
                f'Get "{realm}": timeout: the token server did not answer in time'
            ) from None
        except aiohttp.ClientError as exc:
            raise RegistryConnectionError(f'Get "{realm}": {exc}') from None
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RegistryAuthError(f'Get "{url}": token server sent no JSON') from None
        value = document.get("token") or document.get("access_token")
        if not isinstance(value, str) or not value:
            raise RegistryAuthError(f'Get "{url}": token server sent no token')
        refresh = document.get("refresh_token")
        if isinstance(refresh, str):
            self.refresh_token = refresh
        lifetime = document.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 0.0
        # Renew a little early so a token does not lapse between check and use.
        expires = time.monotonic() + max(seconds or _DEFAULT_TOKEN_LIFETIME, 10.0) - 5.0
        return _Token(value, expires)
