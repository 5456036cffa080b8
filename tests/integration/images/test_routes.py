"""The image endpoints over HTTP on a unix socket, as the docker CLI calls them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from aiohttp import web

from api.routes.images import add_routes
from daemon.images.registry.auth import AuthConfig, encode_registry_auth
from daemon.images.service import ImageService
from tests.support.images import write_docker_save
from tests.support.registry import Registry
from tests.unit.api.support import serve_app

CHUNKED = {"Transfer-Encoding": "chunked"}


def lines(body: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in body.split(b"\r\n") if line]


async def test_image_endpoints(
    service: ImageService, registry: Registry, auth_registry: Registry, tmp_path: Path
) -> None:
    archive = tmp_path / "bb.tar"
    info = write_docker_save(archive, ["busybox:latest"])

    def setup(app: web.Application) -> None:
        add_routes(app, service)

    async with serve_app(setup) as served:
        loaded = await served.request(
            "POST",
            "/v1.41/images/load?quiet=1",
            archive.read_bytes(),
            {"Content-Type": "application/x-tar"},
        )
        assert loaded.status == 200
        assert lines(loaded.body) == [{"stream": "Loaded image: busybox:latest\n"}]

        # As dockerd's: 200, the error in the message stream.
        bad = await served.request("POST", "/v1.41/images/load", b"not a tar at all" * 100)
        assert bad.status == 200
        [failure] = lines(bad.body)
        assert failure["error"] and failure["errorDetail"] == {"message": failure["error"]}

        listed = json.loads((await served.request("GET", "/v1.41/images/json")).body)
        assert [entry["Id"] for entry in listed] == [info.id]
        filtered = await served.request(
            "GET", '/v1.41/images/json?filters={"reference":{"nothing":true}}'
        )
        assert json.loads(filtered.body) == []

        target = f"{registry.host}/routes/bb"
        tagged = await served.request("POST", f"/v1.41/images/busybox/tag?repo={target}&tag=v1")
        assert tagged.status == 201 and tagged.body == b""
        inspected = await served.request("GET", f"/v1.41/images/{target}:v1/json")
        assert inspected.status == 200
        assert json.loads(inspected.body)["RepoTags"] == [f"{target}:v1", "busybox:latest"]
        missing = await served.request("GET", "/v1.41/images/nosuch/json")
        assert missing.status == 404
        assert json.loads(missing.body) == {
            "message": "no such image: nosuch: No such image: nosuch:latest"
        }
        history = json.loads((await served.request("GET", "/v1.41/images/busybox/history")).body)
        assert history[0]["Id"] == info.id

        saved = await served.request("GET", f"/v1.41/images/{target}:v1/get")
        assert saved.status == 200 and saved.headers["Content-Type"] == "application/x-tar"
        with tarfile.open(fileobj=io.BytesIO(saved.body)) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest[0]["RepoTags"] == [f"{target}:v1"]
        unknown = await served.request("GET", "/v1.41/images/get?names=ghost")
        assert unknown.status == 404

        pushed = await served.request(
            "POST",
            f"/v1.41/images/{target}/push?tag=v1",
            headers={"X-Registry-Auth": encode_registry_auth(AuthConfig())},
        )
        assert pushed.status == 200
        assert "aux" in lines(pushed.body)[-1]
        pulled = await served.request("POST", f"/v1.41/images/create?fromImage={target}&tag=v1")
        assert lines(pulled.body)[-1] == {"status": f"Status: Image is up to date for {target}:v1"}
        nothing = await served.request("POST", f"/v1.41/images/create?fromImage={target}&tag=nope")
        assert nothing.status == 404

        removed = await served.request("DELETE", f"/v1.41/images/{target}:v1")
        # The repository's last tag takes the digest the push recorded along.
        untagged = json.loads(removed.body)
        assert untagged[0] == {"Untagged": f"{target}:v1"}
        assert untagged[1]["Untagged"].startswith(f"{target}@sha256:") and len(untagged) == 2
        pruned = await served.request("POST", "/v1.41/images/prune")
        assert json.loads(pruned.body) == {"ImagesDeleted": None, "SpaceReclaimed": 0}

        login = await served.request(
            "POST",
            "/v1.41/auth",
            json.dumps(
                {
                    "username": auth_registry.username,
                    "password": auth_registry.password,
                    "serveraddress": auth_registry.host,
                }
            ).encode(),
            {"Content-Type": "application/json"},
        )
        assert login.status == 200
        assert json.loads(login.body) == {"IdentityToken": "", "Status": "Login Succeeded"}
        denied = await served.request(
            "POST",
            "/v1.41/auth",
            json.dumps(
                {"username": "x", "password": "y", "serveraddress": auth_registry.host}
            ).encode(),
        )
        assert denied.status == 403
