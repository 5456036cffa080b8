"""Containers confined for real: seccomp, capabilities, no_new_privs, limits (docker CLI)."""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.capabilities import privileged_mask
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.probe import build_probe


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`-v` argument that puts the syscall probe at /probe in a container."""
    binary = build_probe(tmp_path_factory.mktemp("probe"))
    yield f"{binary}:/probe:ro"


async def probe_in(daemon: RunningDaemon, probe: str, op: str, *run_args: str) -> str:
    """The probe's verdict ("ok" or an errno name) for `op` in a fresh busybox container."""
    code, out, err = await daemon.docker(
        "run", "--rm", "-v", probe, *run_args, "busybox", "/probe", op
    )
    assert code == 0, err
    return out.strip()


@pytest.mark.parametrize(
    ("op", "opens_it"),
    [
        ("unshare-user", ["--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN"]),
        ("keyctl", ["--security-opt", "seccomp=unconfined"]),
        ("mount", ["--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN"]),
        ("mount", ["--privileged"]),
        # swapon is in no group of the profile, so the file is looked for only unconfined.
        ("swapon", ["--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN"]),
        # The profile grants pidfd_getfd (with kcmp, process_madvise) with CAP_SYS_PTRACE.
        ("pidfd_getfd", ["--cap-add", "SYS_PTRACE"]),
    ],
)
async def test_default_profile_refuses_with_eperm_and_the_option_opens_it(
    daemon: RunningDaemon, probe: str, op: str, opens_it: list[str]
) -> None:
    assert await probe_in(daemon, probe, op) == "EPERM"
    assert await probe_in(daemon, probe, op, *opens_it) in {"ok", "ENOENT"}


async def test_unshare_applet_is_refused_by_default(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker(
        "run", "--rm", "busybox", "sh", "-c", "busybox unshare -U true; echo $?"
    )
    assert (code, out) == (0, "1\n"), err
    assert "unshare(0x10000000): Operation not permitted" in err


async def test_ptrace_of_another_process_is_dockers_rule(daemon: RunningDaemon, probe: str) -> None:
    # As with Docker's profile on kernels from 4.8 (seccomp is checked again after a
    # tracer's changes), ptrace itself is granted and attach follows the kernel's own
    # rules; before 4.8 it needs CAP_SYS_PTRACE (tests/unit/daemon/oci/test_seccomp.py). The
    # rest of the family (pidfd_getfd, kcmp, process_madvise) needs it on every kernel.
    assert await probe_in(daemon, probe, "ptrace") == "ok"


async def test_custom_profile_denying_mkdir(daemon: RunningDaemon, tmp_path: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile))
    code, _, err = await daemon.docker(
        "run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "mkdir", "/made"
    )
    assert code != 0
    assert "Operation not permitted" in err
    out = await daemon.docker_ok(
        "run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c",
        "touch /file && echo touched",
    )  # fmt: skip
    assert out == "touched\n"


async def test_info_lists_seccomp_default_and_no_apparmor(daemon: RunningDaemon) -> None:
    out = await daemon.docker_ok("info", "--format", "{{json .SecurityOptions}}")
    assert json.loads(out) == ["name=seccomp,profile=default"]


async def test_pids_limit_caps_a_fork_loop(daemon: RunningDaemon) -> None:
    # Builtins only (echo, read): each line out is one more task. busybox sh gives up
    # at the first fork the pids cgroup refuses.
    script = (
        "read m < /sys/fs/cgroup/pids/pids.max; echo max $m; "
        "for i in $(seq 40); do sleep 100 & echo spawned; done"
    )
    code, out, err = await daemon.docker(
        "run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", script
    )
    assert code == 2
    assert "can't fork: Resource temporarily unavailable" in err
    lines = out.splitlines()
    assert lines[0] == "max 20"
    assert lines.count("spawned") == 19  # the shell and 19 sleeps: 20 tasks


async def test_read_only_root_refuses_writes_outside_tmpfs(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
        "touch /scratch/ok && touch /nope",
    )  # fmt: skip
    assert code != 0
    assert "Read-only file system" in err
    assert "/scratch" not in err


async def test_cap_drop_all_makes_chown_fail(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run", "--rm", "--cap-drop", "ALL", "busybox", "busybox", "chown", "1", "/bin"
    )
    assert code != 0
    assert "Operation not permitted" in err
    await daemon.docker_ok("run", "--rm", "busybox", "busybox", "chown", "1", "/bin")
    # Names with or without CAP_, in any case: back to just CAP_CHOWN.
    await daemon.docker_ok(
        "run", "--rm", "--cap-drop", "all", "--cap-add", "cap_chown", "busybox",
        "busybox", "chown", "1", "/bin",
    )  # fmt: skip


async def test_privileged_has_the_daemons_bounding_set(daemon: RunningDaemon) -> None:
    own = f"{privileged_mask():016x}"
    out = await daemon.docker_ok(
        "run", "--rm", "--privileged", "busybox", "grep", "-E", "^(CapBnd|Seccomp):",
        "/proc/self/status",
    )  # fmt: skip
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert (fields["CapBnd"], fields["Seccomp"]) == (own, "0")


async def test_default_container_runs_filtered(daemon: RunningDaemon) -> None:
    out = await daemon.docker_ok("run", "--rm", "busybox", "grep", "^Seccomp:", "/proc/self/status")
    assert out.split() == ["Seccomp:", "2"]  # SECCOMP_MODE_FILTER
    out = await daemon.docker_ok(
        "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "^Seccomp:",
        "/proc/self/status",
    )  # fmt: skip
    assert out.split() == ["Seccomp:", "0"]


async def test_no_new_privileges(daemon: RunningDaemon) -> None:
    out = await daemon.docker_ok(
        "run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs",
        "/proc/self/status",
    )  # fmt: skip
    assert out.split() == ["NoNewPrivs:", "1"]
    out = await daemon.docker_ok(
        "run", "--rm", "busybox", "grep", "NoNewPrivs", "/proc/self/status"
    )
    assert out.split() == ["NoNewPrivs:", "0"]


async def test_daemon_wide_no_new_privileges(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    # daemon.json "no-new-privileges": true; a container may still opt out.
    async with running_daemon(containerd, busybox_image, no_new_privileges=True) as strict:
        out = await strict.docker_ok(
            "run", "--rm", "busybox", "grep", "NoNewPrivs", "/proc/self/status"
        )
        assert out.split() == ["NoNewPrivs:", "1"]
        out = await strict.docker_ok(
            "run", "--rm", "--security-opt", "no-new-privileges=false", "busybox", "grep",
            "NoNewPrivs", "/proc/self/status",
        )  # fmt: skip
        assert out.split() == ["NoNewPrivs:", "0"]


async def test_masked_paths_and_systempaths_unconfined(daemon: RunningDaemon) -> None:
    # /proc/timer_list is masked (/dev/null over it); /proc/sys is read-only.
    script = (
        "grep -c ' /proc/timer_list ' /proc/mounts; wc -c < /proc/timer_list; "
        "echo 1 > /proc/sys/kernel/ns_last_pid || echo refused"
    )
    _, out, err = await daemon.docker("run", "--rm", "busybox", "sh", "-c", script)
    assert out.split() == ["1", "0", "refused"], err
    assert "Read-only file system" in err
    _, out, err = await daemon.docker(
        "run", "--rm", "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c",
        "grep -c ' /proc/timer_list ' /proc/mounts; grep -c ' /proc/sys ' /proc/mounts",
    )  # fmt: skip
    assert out.split() == ["0", "0"], err


@pytest.mark.parametrize(
    ("host_config", "status", "message"),
    [
        # What dockerd 20.10.24 answers at create for each (observed on Debian's dockerd).
        ({"CapAdd": ["BPF"]}, 400, 'invalid CapAdd: unknown capability: "CAP_BPF"'),
        ({"CapAdd": ["cap_perfmon"]}, 400, 'invalid CapAdd: unknown capability: "CAP_PERFMON"'),
        ({"CapAdd": ["ALL"], "CapDrop": ["CHECKPOINT_RESTORE"]}, 400,
         'invalid CapDrop: unknown capability: "CAP_CHECKPOINT_RESTORE"'),
        ({"SecurityOpt": ["systempaths=unconfined"]}, 500,
         'invalid --security-opt 2: "systempaths=unconfined"'),
        ({"SecurityOpt": ["bogus"]}, 500, 'invalid --security-opt 1: "bogus"'),
    ],
)  # fmt: skip
async def test_options_dockerd_20_10_refuses_make_no_container(
    daemon: RunningDaemon, host_config: dict[str, object], status: int, message: str
) -> None:
    before = await daemon.docker_ok("ps", "-aq", "--no-trunc")
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config}
    answer = await daemon.request("POST", "/containers/create", body)
    assert answer == (status, {"message": message})
    assert await daemon.docker_ok("ps", "-aq", "--no-trunc") == before


async def test_ulimits_applied_and_raising_above_the_daemon_is_a_clear_error(
    daemon: RunningDaemon,
) -> None:
    out = await daemon.docker_ok(
        "run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"
    )  # fmt: skip
    assert out.split() == ["100", "200"]
    own = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if own == resource.RLIM_INFINITY:
        pytest.skip("the daemon's own nofile hard limit is unlimited here")
    code, _, err = await daemon.docker(
        "run", "--rm", "--ulimit", f"nofile=100:{own + 1}", "busybox", "true"
    )
    assert code == 125
    assert f"the hard limit {own + 1} is above the daemon's own ({own})" in err
    assert "rlimit type" not in err  # not runc's text
