"""aiohttp imported as `mooraged` imports it (CA bundle deferred, cabundle.py): verified
TLS works once a registry client has made its first request, and not before (which is
what the deferral saves at start-up). In a fresh interpreter: aiohttp must not have been
imported yet, and SSL_CERT_FILE points the default CA paths at a throw-away CA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libcontainerd
from tests.support.certs import issue, make_ca
from tests.support.registry import Registry

ROOT = Path(libcontainerd.__file__).parent.parent

CHECK = """
import asyncio, ssl, sys
from daemon.images.registry import cabundle

with cabundle.deferred():
    import aiohttp
from aiohttp import web
from daemon.images.registry.client import RegistryClient

cert, key, registry = sys.argv[1:]


async def get(url):
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url) as response:
                return await response.text()
        except aiohttp.ClientConnectorCertificateError:
            return "unverified"


async def main():
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="verified"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    url = "https://127.0.0.1:%d/" % runner.addresses[0][1]
    before = await get(url)
    async with RegistryClient(registry) as client:
        await client.ping()
    print(before, await get(url), ssl.create_default_context().cert_store_stats()["x509_ca"])
    await runner.cleanup()


asyncio.run(main())
"""


def test_verified_tls_after_the_first_registry_request(tmp_path: Path, registry: Registry) -> None:
    ca = make_ca(tmp_path, "ca")
    server = issue(ca, tmp_path, "server", server=True)
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(server.cert), str(server.key), registry.host],
        cwd=ROOT,
        env={"SSL_CERT_FILE": str(ca.cert), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # Before: aiohttp's context has no CAs; after: the test CA; a context made after the
    # import is untouched by the deferral (it has the one CA at once).
    assert done.stdout.split() == ["unverified", "verified", "1"]
