"""`docker commit` and `docker import` (and the SDK's commit/import) against mooraged."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
from pathlib import Path

import docker

from tests.support.containerd import count_delta
from tests.support.daemon import RunningDaemon


async def test_commit_with_changes_runs_the_new_cmd_and_sees_the_file(
    daemon: RunningDaemon,
) -> None:
    cid = (
        await daemon.docker_ok(
            "run", "-d", "busybox", "sh", "-c", "echo hello > /greeting; rm /etc/group; sleep 300"
        )
    ).strip()
    try:
        await daemon.wait_for_path(cid, "/greeting")
        since = f"{time.time() - 1:.3f}"
        out = await daemon.docker_ok(
            "commit",
            "-c",
            'CMD ["cat", "/greeting"]',
            "-c",
            "ENV COLOR=blue",
            "-m",
            "added a greeting",
            "-a",
            "Tess Ter <tess@example.com>",
            cid,
            "moorage-test/committed:1",
        )
        image_id = out.strip()
        assert image_id.startswith("sha256:")
        # The container went on running: paused for the commit, then resumed, as dockerd.
        state = await daemon.docker_ok("inspect", "-f", "{{.State.Status}}", cid)
        assert state.strip() == "running"
        events = await daemon.docker_ok(
            "events",
            "--since",
            since,
            "--until",
            f"{time.time():.3f}",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.ID}}",
        )
        mine = [
            line.rsplit(" ", 1)[0]
            for line in events.splitlines()
            if line.endswith((cid, image_id))
            and line.split()[1] in ("pause", "unpause", "commit", "tag")
        ]
        assert mine == ["container pause", "image tag", "container commit", "container unpause"]
        run = await daemon.docker_ok("run", "--rm", "moorage-test/committed:1")
        assert run == "hello\n"
        gone = await daemon.docker(
            "run", "--rm", "--entrypoint", "cat", "moorage-test/committed:1", "/etc/group"
        )
        assert gone[0] != 0  # the deletion is a whiteout in the new layer
        env = await daemon.docker_ok(
            "run", "--rm", "moorage-test/committed:1", "sh", "-c", "echo $COLOR"
        )
        assert env == "blue\n"
        history = await daemon.docker_ok(
            "history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", image_id
        )
        first = history.splitlines()[0]
        assert first.startswith("added a greeting|sh -c echo hello > /greeting; rm /etc/group")
        inspected = json.loads(await daemon.docker_ok("image", "inspect", image_id))[0]
        busybox = json.loads(await daemon.docker_ok("image", "inspect", "busybox"))[0]
        assert inspected["Author"] == "Tess Ter <tess@example.com>"
        assert inspected["Comment"] == "added a greeting"
        assert inspected["Parent"] == busybox["Id"]
        # The CLI speaks 1.50: Container and ContainerConfig went in API 1.45; 1.41 has them.
        assert "Container" not in inspected and "ContainerConfig" not in inspected
        _, legacy = await daemon.request("GET", f"/images/{image_id}/json")
        assert legacy["Container"] == cid
        assert legacy["ContainerConfig"]["Cmd"][0] == "sh"
        assert inspected["Config"]["Cmd"] == ["cat", "/greeting"]
        assert "COLOR=blue" in inspected["Config"]["Env"]
        assert len(inspected["RootFS"]["Layers"]) == len(busybox["RootFS"]["Layers"]) + 1
    finally:
        await daemon.docker("rm", "-f", cid)
        await daemon.docker("rmi", "moorage-test/committed:1")


async def test_commit_of_an_unchanged_container_adds_an_empty_history_entry(
    daemon: RunningDaemon,
) -> None:
    cid = (await daemon.docker_ok("create", "busybox", "true")).strip()
    try:
        image_id = (await daemon.docker_ok("commit", cid)).strip()
        inspected = json.loads(await daemon.docker_ok("image", "inspect", image_id))[0]
        busybox = json.loads(await daemon.docker_ok("image", "inspect", "busybox"))[0]
        assert inspected["RootFS"]["Layers"] == busybox["RootFS"]["Layers"]
        assert inspected["RepoTags"] == []
        assert inspected["Config"]["Cmd"] == ["true"]
        await daemon.docker_ok("rmi", image_id)
    finally:
        await daemon.docker("rm", "-f", cid)


async def test_commit_refuses_bad_input_as_dockerd(daemon: RunningDaemon) -> None:
    status, body = await daemon.request("POST", "/commit", container="no-such-container")
    assert (status, body["message"]) == (404, "No such container: no-such-container")
    cid = (await daemon.docker_ok("create", "busybox", "true")).strip()
    try:
        before = await daemon.docker_ok("images", "-q", "-a")
        status, body = await daemon.request("POST", "/commit", container=cid, repo="Bad Name")
        assert status == 400
        status, body = await daemon.request(
            "POST", "/commit", container=cid, changes="STOPSIGNAL 9"
        )
        assert (status, body["message"]) == (400, "stopsignal is not a valid change command")
        code, _, err = await daemon.docker("commit", "-c", "RUN true", cid)
        assert code != 0 and "run is not a valid change command" in err
        assert await daemon.docker_ok("images", "-q", "-a") == before
    finally:
        await daemon.docker("rm", "-f", cid)


async def test_export_then_import_round_trips_to_an_image_that_runs(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    cid = (await daemon.docker_ok("create", "busybox", "sh", "-c", "echo x > /made-here")).strip()
    try:
        await daemon.docker_ok("start", "-a", cid)
        await daemon.docker_ok("export", "-o", str(tmp_path / "rootfs.tar"), cid)
        exported = (tmp_path / "rootfs.tar").read_bytes()
        out = await daemon.docker_ok(
            "import",
            "--change",
            'CMD ["cat", "/made-here"]',
            "--change",
            "WORKDIR /tmp",
            "-m",
            "from an export",
            "-",
            "moorage-test/imported:1",
            stdin=exported,
        )
        image_id = out.strip()
        assert image_id.startswith("sha256:")
        assert await daemon.docker_ok("run", "--rm", "moorage-test/imported:1") == "x\n"
        pwd = await daemon.docker_ok("run", "--rm", "moorage-test/imported:1", "pwd")
        assert pwd == "/tmp\n"
        inspected = json.loads(await daemon.docker_ok("image", "inspect", image_id))[0]
        assert inspected["Comment"] == "from an export"
        assert inspected["RepoTags"] == ["moorage-test/imported:1"]
        assert len(inspected["RootFS"]["Layers"]) == 1
        history = await daemon.docker_ok("history", "--format", "{{.Comment}}", image_id)
        assert history == "from an export\n"
    finally:
        await daemon.docker("rm", "-f", cid)
        await daemon.docker("rmi", "moorage-test/imported:1")


async def test_sdk_commit_import_and_remove(daemon: RunningDaemon) -> None:
    def scenario() -> None:
        client = docker.DockerClient(base_url=daemon.host, version="1.41")
        api = client.api
        try:
            # Committed right after the start, as docker-py's tests do: the container may
            # be exiting while the commit pauses it.
            for _ in range(3):
                container = api.create_container("busybox", ["touch", "/test"])
                api.start(container["Id"])
                img_id = api.commit(container["Id"], changes=["EXPOSE 8000", 'CMD ["bash"]'])["Id"]
                api.remove_container(container["Id"], force=True)
                api.remove_image(img_id)
            container = api.create_container("busybox", ["touch", "/test"])
            api.start(container["Id"])
            img_id = api.commit(container["Id"], changes=["EXPOSE 8000", 'CMD ["bash"]'])["Id"]
            img = api.inspect_image(img_id)
            assert "8000/tcp" in img["Config"]["ExposedPorts"]
            assert img["Config"]["Cmd"] == ["bash"]
            assert img["Parent"] == api.inspect_image("busybox")["Id"]
            logs = api.remove_image(img_id, force=True)
            assert {"Deleted": img_id} in logs
            assert not [x for x in api.images(all=True) if x["Id"].startswith(img_id)]
            api.remove_container(container["Id"], force=True)

            gzipped = io.BytesIO()
            with tarfile.open(fileobj=gzipped, mode="w:gz") as tar:
                data = b"A" * 500
                info = tarfile.TarInfo("testdata")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            statuses = api.import_image_from_data(
                gzipped.getvalue(),
                repository="moorage-test/import-from-bytes",
                changes=["USER foobar", 'CMD ["echo"]'],
            )
            result = json.loads(statuses.splitlines()[-1])
            assert "error" not in result
            imported = api.inspect_image(result["status"])
            assert imported["Config"]["Cmd"] == ["echo"]
            assert imported["Config"]["User"] == "foobar"
            assert imported["Comment"] == "Imported from -"
            api.remove_image("moorage-test/import-from-bytes")

            container_model = client.containers.run("busybox", ["touch", "/x"], detach=True)
            container_model.wait()
            image = container_model.commit("moorage-test/model-commit", "t1")
            assert image.tags == ["moorage-test/model-commit:t1"]
            container_model.remove()
            client.images.remove("moorage-test/model-commit:t1")
        finally:
            client.close()

    await asyncio.to_thread(scenario)


async def test_import_refuses_a_url_and_garbage(daemon: RunningDaemon) -> None:
    status, body = await daemon.request(
        "POST", "/images/create", fromSrc="http://127.0.0.1:1/rootfs.tar"
    )
    assert status == 400
    assert "not supported" in body["message"]
    code, _, err = await daemon.docker(
        "import", "-", "moorage-test/garbage:1", stdin=b"not a tar at all" * 100
    )
    assert (code, err) == (1, "Error response from daemon: archive/tar: invalid tar header\n")
    code, _, _ = await daemon.docker("image", "inspect", "moorage-test/garbage:1")
    assert code != 0


async def test_rpc_cost_of_commit_and_import(daemon: RunningDaemon, tmp_path: Path) -> None:
    """Commit: pause/resume, one lease, three content writes (layer, config, manifest), one
    unpack (prepare, apply, commit) and the record. Import: the same without the pause."""
    client = daemon.services.client
    assert client is not None
    image_calls = {
        "Content.Write": 3,
        "Diff.Apply": 1,
        "Images.Create": 1,
        "Leases.Create": 1,
        "Leases.Delete": 1,
        "Snapshots.Commit": 1,
        "Snapshots.Prepare": 1,
    }
    cid = (
        await daemon.docker_ok("run", "-d", "busybox", "sh", "-c", "echo 1 > /f; sleep 300")
    ).strip()
    try:
        await daemon.wait_for_path(cid, "/f")
        before = dict(client.rpc_counts())
        await daemon.docker_ok("commit", cid, "moorage-test/cost:1")
        assert count_delta(before, dict(client.rpc_counts())) == {
            **image_calls,
            "Tasks.Pause": 1,
            "Tasks.Resume": 1,
        }
        await daemon.docker_ok("export", "-o", str(tmp_path / "rootfs.tar"), cid)
        before = dict(client.rpc_counts())
        await daemon.docker_ok(
            "import", "-", "moorage-test/cost:2", stdin=(tmp_path / "rootfs.tar").read_bytes()
        )
        assert count_delta(before, dict(client.rpc_counts())) == image_calls
    finally:
        await daemon.docker("rm", "-f", cid)
        await daemon.docker("rmi", "moorage-test/cost:1", "moorage-test/cost:2")
