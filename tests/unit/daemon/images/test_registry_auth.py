"""Credentials headers, auth challenges and endpoint rules (no network)."""

from __future__ import annotations

import base64
import json

import pytest

from daemon.images.registry.auth import (
    AuthConfig,
    Challenge,
    decode_registry_auth,
    encode_registry_auth,
    parse_www_authenticate,
    repository_scope,
)
from daemon.images.registry.endpoints import (
    Endpoint,
    RegistryConfig,
    endpoints_for,
    is_insecure,
    normalize_domain,
)
from daemon.images.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    describe_errors,
    error_for_status,
)


def b64url(document: object, *, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(json.dumps(document).encode()).decode()
    return text if pad else text.rstrip("=")


def test_decode_x_registry_auth() -> None:
    header = b64url(
        {"username": "u", "password": "p?>~", "serveraddress": "https://index.docker.io/v1/"}
    )
    assert decode_registry_auth(header) == AuthConfig(
        username="u", password="p?>~", serveraddress="https://index.docker.io/v1/"
    )
    assert decode_registry_auth(b64url({"identitytoken": "tok"}, pad=False)) == AuthConfig(
        identitytoken="tok"
    )
    packed = base64.b64encode(b"joe:pa:ss").decode()
    decoded = decode_registry_auth(b64url({"auth": packed, "serveraddress": "r.test"}))
    assert decoded is not None
    assert (decoded.username, decoded.password) == ("joe", "pa:ss")
    assert decode_registry_auth(None) is None
    assert decode_registry_auth("  ") is None
    assert decode_registry_auth(b64url({})) == AuthConfig()
    # Standard base64 with + and / is read too.
    standard = base64.b64encode(json.dumps({"username": "\u00fe\u00ff~"}).encode()).decode()
    assert decode_registry_auth(standard) == AuthConfig(username="\u00fe\u00ff~")
    with pytest.raises(ValueError, match="invalid X-Registry-Auth header"):
        decode_registry_auth("!!!not base64!!!")
    with pytest.raises(ValueError, match="invalid X-Registry-Auth header"):
        decode_registry_auth(b64url(["a", "list"]))


def test_encode_roundtrip() -> None:
    auth = AuthConfig(username="a", password="b", serveraddress="localhost:5000")
    assert decode_registry_auth(encode_registry_auth(auth)) == auth
    assert auth.has_credentials
    assert not AuthConfig(username="a").has_credentials


def test_parse_www_authenticate() -> None:
    value = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push"'
    )
    assert parse_www_authenticate(value) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/busybox:pull,push",
            },
        )
    ]
    assert parse_www_authenticate('Basic realm="Registry Realm"') == [
        Challenge("basic", {"realm": "Registry Realm"})
    ]
    both = parse_www_authenticate(
        'Basic realm="a", Bearer realm="b\\"q",error="insufficient_scope", charset=UTF-8'
    )
    assert both == [
        Challenge("basic", {"realm": "a"}),
        Challenge("bearer", {"realm": 'b"q', "error": "insufficient_scope", "charset": "UTF-8"}),
    ]
    assert parse_www_authenticate("") == []
    assert repository_scope("library/busybox", "pull", "push") == (
        "repository:library/busybox:pull,push"
    )


@pytest.mark.parametrize(
    ("server", "domain"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("", "docker.io"),
        ("http://localhost:5000/", "localhost:5000"),
        ("Quay.IO", "quay.io"),
        ("registry.test:443/v2/", "registry.test:443"),
        # Credentials in the address are not part of the name (found by the API fuzz:
        # aiohttp made a Basic header of them and failed on non-Latin-1 text).
        ("https://us\u00e9r:pw@registry.test/v2/", "registry.test"),
        ("\U0006ba15@registry.test", "registry.test"),
    ],
)
def test_normalize_domain(server: str, domain: str) -> None:
    assert normalize_domain(server) == domain


def test_endpoints() -> None:
    config = RegistryConfig(
        insecure_registries=("myreg.test:5000", "10.0.0.0/8"),
        mirrors=("https://mirror.test/", "mirror2.test"),
    )
    assert endpoints_for("docker.io", config) == [
        Endpoint("https://mirror.test", mirror=True),
        Endpoint("https://mirror2.test", mirror=True),
        Endpoint("https://registry-1.docker.io"),
    ]
    # Mirrors serve pulls only.
    assert endpoints_for("docker.io", config, push=True) == [
        Endpoint("https://registry-1.docker.io")
    ]
    assert endpoints_for("quay.io", config) == [Endpoint("https://quay.io")]
    insecure = [
        Endpoint("https://myreg.test:5000", verify_tls=False),
        Endpoint("http://myreg.test:5000"),
    ]
    assert endpoints_for("myreg.test:5000", config) == insecure
    assert endpoints_for("127.0.0.1:5000", RegistryConfig())[-1] == Endpoint(
        "http://127.0.0.1:5000"
    )
    assert is_insecure("10.1.2.3:5000", config)
    assert is_insecure("localhost:5000", RegistryConfig())
    assert is_insecure("[::1]:5000", RegistryConfig())
    assert is_insecure("127.8.9.10", RegistryConfig())
    assert not is_insecure("192.168.1.1:5000", config)
    assert not is_insecure("myreg.test:5001", config)


def test_registry_error_bodies() -> None:
    body = json.dumps(
        {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {}}]}
    ).encode()
    assert describe_errors(body) == ("manifest unknown: manifest unknown", "MANIFEST_UNKNOWN")
    assert describe_errors(b"<html>") is None
    not_found = error_for_status(404, "Not Found", body, method="GET", url="http://r/v2/x")
    assert isinstance(not_found, RegistryNotFoundError)
    assert str(not_found) == "manifest unknown: manifest unknown"
    denied = error_for_status(
        403,
        "Forbidden",
        b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
        method="GET",
        url="http://r/v2/x",
    )
    assert isinstance(denied, RegistryAuthError)
    assert str(denied) == 'Get "http://r/v2/x": denied: requested access to the resource is denied'
    other = error_for_status(500, "Internal Server Error", b"", method="PUT", url="http://r/v2/")
    assert type(other) is RegistryError
    assert str(other) == 'Put "http://r/v2/": unexpected status 500 Internal Server Error'
