"""A container's snapshot is held by the client's expiring lease until its container record
holds it: a create cut short between Snapshots.Prepare and Containers.Create leaves nothing
that containerd's garbage collector keeps for good."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from libcontainerd.gclabels import EXPIRE_LABEL
from libcontainerd.remote import RemoteClient
from libcontainerd.remote.gen.containerd.services.snapshots.v1 import PrepareSnapshotRequest
from libcontainerd.remote.leases import RemoteLeases
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.lcd import RecordingBackend, new_container_on, spec_for, unique_id

SHORT = timedelta(seconds=2)


async def _collect_garbage(client: RemoteClient) -> None:
    # Deleting a lease with `sync` runs a garbage collection and waits for it.
    leases = RemoteLeases(client.conn)
    await leases.delete(await leases.create(), sync=True)


async def test_unfinished_create_is_reclaimed_once_the_lease_expires(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    client = await RemoteClient.connect(
        containerd.address,
        containerd.namespace,
        RecordingBackend(),
        containerd.workdir / "fifos",
        snapshot_lease_expiry=SHORT,
    )
    try:
        listed = (await containerd.ctr("leases", "ls")).stdout
        [line] = [row for row in listed.splitlines() if row.startswith(client.snapshot_lease)]
        assert EXPIRE_LABEL in line
        finished = unique_id("leased-done")
        container = await new_container_on(
            client, containerd, busybox_image, finished, spec_for(containerd, finished, ["true"])
        )
        # What new_container does, cut short after Prepare (the daemon died there).
        cut_short = unique_id("leased-cut")
        with client.conn.lease(client.snapshot_lease):
            await client.conn.stubs.snapshots.prepare(
                PrepareSnapshotRequest(
                    snapshotter="overlayfs", key=cut_short, parent=busybox_image.info.chain_ids[-1]
                )
            )
        await _collect_garbage(client)
        assert {finished, cut_short} <= set(await containerd.list_snapshots())
        # Once the lease has expired, a collection takes what no container holds.
        async with asyncio.timeout(30):
            while cut_short in await containerd.list_snapshots():
                await asyncio.sleep(0.5)
                await _collect_garbage(client)
        assert finished in await containerd.list_snapshots()
        await container.delete()
        assert finished not in await containerd.list_snapshots()
    finally:
        await client.close()
