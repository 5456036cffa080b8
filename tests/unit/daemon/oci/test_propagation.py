"""The start-time check of a shared or slave bind's source, against mountinfo tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.oci import SpecError, UserMount, check_bind_propagation

# / private, /srv shared, /srv/slave a slave of a shared peer, /srv/priv private again,
# and a mount point with a space (escaped as \040).
MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 22 8:2 / /srv rw,relatime shared:5 - ext4 /dev/sda2 rw
31 30 8:2 /x /srv/slave rw,relatime master:5 - ext4 /dev/sda2 rw
32 30 8:2 /y /srv/priv rw,relatime - ext4 /dev/sda2 rw
33 30 8:2 /z /srv/with\\040space rw,relatime shared:7 - ext4 /dev/sda2 rw
"""


@pytest.fixture
def mountinfo(tmp_path: Path) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return str(path)


def _bind(source: str, propagation: str) -> UserMount:
    return UserMount(destination="/in", type="bind", source=source, propagation=propagation)


@pytest.mark.parametrize(
    ("source", "propagation"),
    [
        ("/srv/data", "rshared"),
        ("/srv", "shared"),
        ("/srv/with space/d", "rshared"),
        ("/srv/data", "rslave"),  # shared will do for a slave
        ("/srv/slave/d", "slave"),
        ("/anything", "rprivate"),  # private binds are not looked at
    ],
)
def test_a_source_that_can_propagate_passes(mountinfo: str, source: str, propagation: str) -> None:
    check_bind_propagation([_bind(source, propagation)], mountinfo)


@pytest.mark.parametrize(
    ("source", "propagation", "message"),
    [
        ("/tmp/d", "rshared", "path /tmp/d is mounted on / but it is not a shared mount"),
        ("/srvx", "shared", "path /srvx is mounted on / but it is not a shared mount"),
        ("/srv/slave/d", "rshared",
         "path /srv/slave/d is mounted on /srv/slave but it is not a shared mount"),
        ("/srv/priv", "rslave",
         "path /srv/priv is mounted on /srv/priv but it is not a shared or slave mount"),
    ],
)  # fmt: skip
def test_a_source_that_cannot_fails_the_start_as_dockerd(
    mountinfo: str, source: str, propagation: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        check_bind_propagation([_bind(source, propagation)], mountinfo)
    assert (caught.value.http_status, str(caught.value)) == (500, message)


def test_without_a_shared_or_slave_bind_mountinfo_is_not_read(tmp_path: Path) -> None:
    tmpfs = UserMount(destination="/t", type="tmpfs", propagation="rshared")
    check_bind_propagation([_bind("/x", "rprivate"), tmpfs], str(tmp_path / "absent"))
