"""The seccomp filter in the spec: the default profile per capability set, custom profiles."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from daemon.oci.defaults import DEFAULT_CAPABILITIES
from daemon.oci.errors import StartError
from daemon.oci.seccomp import container_seccomp, default_profile, docker_profile
from daemon.oci.security import (
    APPARMOR_ENABLED,
    apparmor_enabled,
    info_security_options,
    parse_security_opts,
)

KERNEL = (6, 1)
OCI_ACTIONS = {
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
}  # fmt: skip
OCI_OPS = {
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}  # fmt: skip
OCI_ARCHES = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
              "SCMP_ARCH_ARM"}  # fmt: skip
CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x00020000, 17
EPERM, ENOSYS = 1, 38


def profile(caps: Collection[str] = DEFAULT_CAPABILITIES, **kw: Any) -> dict[str, Any]:
    return default_profile(
        caps, machine=kw.get("machine", "x86_64"), kernel=kw.get("kernel", KERNEL)
    )


def outcome(seccomp: dict[str, Any], name: str, *args: int) -> str | int:
    """What the filter does to `name(*args)`: "allow" or the errno, as libseccomp would decide."""

    def holds(cond: dict[str, Any]) -> bool:
        arg, value = args[cond["index"]], cond["value"]
        results: dict[str, bool] = {
            "SCMP_CMP_EQ": arg == value,
            "SCMP_CMP_NE": arg != value,
            "SCMP_CMP_LT": arg < value,
            "SCMP_CMP_LE": arg <= value,
            "SCMP_CMP_GT": arg > value,
            "SCMP_CMP_GE": arg >= value,
            "SCMP_CMP_MASKED_EQ": arg & value == cond.get("valueTwo", 0),
        }
        return results[cond["op"]]

    for rule in seccomp["syscalls"]:
        if name in rule["names"] and all(holds(c) for c in rule.get("args", [])):
            if rule["action"] == "SCMP_ACT_ALLOW":
                return "allow"
            return int(rule.get("errnoRet", EPERM))
    return int(seccomp["defaultErrnoRet"])


def assert_valid_oci(seccomp: dict[str, Any]) -> None:
    assert seccomp["defaultAction"] in OCI_ACTIONS
    assert set(seccomp["architectures"]) <= OCI_ARCHES
    json.dumps(seccomp)  # plain JSON for the runtime
    for rule in seccomp["syscalls"]:
        assert set(rule) <= {"names", "action", "errnoRet", "args"}
        assert rule["names"] and all(isinstance(n, str) and n for n in rule["names"])
        assert rule["action"] in OCI_ACTIONS
        for arg in rule.get("args", []):
            assert set(arg) <= {"index", "value", "valueTwo", "op"}
            assert 0 <= arg["index"] < 6 and arg["op"] in OCI_OPS
            assert 0 <= arg["value"] < 2**64


def test_default_profile_is_valid_oci_and_denies_with_eperm() -> None:
    seccomp = profile()
    assert_valid_oci(seccomp)
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp["defaultErrnoRet"] == EPERM
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {
        n for r in seccomp["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]
    }
    # dockerd 20.10.24's grants 350 syscalls without condition on x86_64 with the default
    # capabilities (346 everywhere, ptrace from kernel 4.8, arch_prctl, modify_ldt, chroot),
    # plus personality and clone on conditions. tests/integration/daemon/test_seccomp_parity.py
    # compares the whole section with dockerd's own.
    unconditional = {
        n
        for r in seccomp["syscalls"]
        if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
        for n in r["names"]
    }
    assert len(unconditional) == 350
    assert allowed - unconditional == {"personality", "clone"}


@pytest.mark.parametrize(
    "name",
    ["read", "openat", "execve", "mkdir", "chown", "setuid", "futex", "epoll_wait", "arch_prctl",
     "chroot", "ptrace", "socket", "sendmsg", "clock_gettime", "pidfd_open", "io_uring_setup",
     "io_uring_enter", "io_uring_register"],
)  # fmt: skip
def test_default_allows_everyday_syscalls(name: str) -> None:
    assert outcome(profile(), name, 0) == "allow"


@pytest.mark.parametrize(
    "name",
    ["keyctl", "add_key", "request_key", "swapon", "swapoff", "mount", "umount2", "unshare",
     "setns", "kexec_load", "init_module", "reboot", "settimeofday", "syslog", "acct", "iopl",
     "kcmp", "pidfd_getfd", "open_by_handle_at", "bpf", "perf_event_open", "userfaultfd",
     "mbind", "vhangup", "sethostname", "modify_ldt_not_a_call", "process_vm_readv",
     "process_vm_writev", "name_to_handle_at",
     # newer than dockerd 20.10.24's profile, which does not grant them either
     "fchmodat2", "futex_wait", "mseal", "pkey_alloc", "cachestat", "statmount",
     "map_shadow_stack", "setxattrat"],
)  # fmt: skip
def test_default_denies_with_eperm(name: str) -> None:
    assert outcome(profile(), name, 0) == EPERM


def test_argument_conditions() -> None:
    seccomp = profile()
    assert outcome(seccomp, "personality", 0) == "allow"
    assert outcome(seccomp, "personality", 0xFFFFFFFF) == "allow"
    assert outcome(seccomp, "personality", 0x0040000) == EPERM  # READ_IMPLIES_EXEC
    # socket() of any family, AF_ALG (38) and AF_VSOCK (40) included, as with dockerd 20.10
    for family in (2, 38, 40):
        assert outcome(seccomp, "socket", family) == "allow"
    assert outcome(seccomp, "clone", SIGCHLD) == "allow"
    assert outcome(seccomp, "clone", SIGCHLD | CLONE_NEWUSER) == EPERM
    assert outcome(seccomp, "clone", CLONE_NEWNS) == EPERM
    assert outcome(seccomp, "clone3", 0) == ENOSYS  # so that libc falls back to clone


def test_cap_sys_admin_opens_the_mount_and_namespace_family() -> None:
    seccomp = profile([*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"])
    assert_valid_oci(seccomp)
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "sethostname",
        "fsopen",
        "quotactl",
        "name_to_handle_at",
        "bpf",
        "perf_event_open",
        "syslog",
    ]:
        assert outcome(seccomp, name, 0) == "allow", name
    assert outcome(seccomp, "clone", SIGCHLD | CLONE_NEWUSER) == "allow"
    assert outcome(seccomp, "clone3", 0) == "allow"
    assert outcome(seccomp, "swapon", 0) == EPERM  # no rule opens swapon, even with the cap
    assert outcome(seccomp, "keyctl", 0) == EPERM


@pytest.mark.parametrize(
    ("cap", "names"),
    [
        (
            "CAP_SYS_PTRACE",
            ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"],
        ),
        ("CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]),
        ("CAP_SYS_BOOT", ["reboot"]),
        ("CAP_SYS_TIME", ["settimeofday", "clock_settime"]),
        ("CAP_SYSLOG", ["syslog"]),
        ("CAP_SYS_NICE", ["mbind", "set_mempolicy"]),
        ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
        ("CAP_SYS_PACCT", ["acct"]),
        ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
        ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    ],
)
def test_capability_dependent_additions(cap: str, names: list[str]) -> None:
    without, with_cap = profile(), profile([*DEFAULT_CAPABILITIES, cap])
    for name in names:
        assert (outcome(without, name, 0), outcome(with_cap, name, 0)) == (EPERM, "allow"), name


@pytest.mark.parametrize("cap", ["CAP_BPF", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE"])
def test_capabilities_dockerd_20_10_does_not_know_open_nothing(cap: str) -> None:
    # dockerd 20.10 refuses these capabilities, so its profile has no rule for them:
    # bpf and perf_event_open come with CAP_SYS_ADMIN only.
    assert profile([*DEFAULT_CAPABILITIES, cap]) == profile()


def test_chroot_follows_cap_sys_chroot() -> None:
    dropped = [c for c in DEFAULT_CAPABILITIES if c != "CAP_SYS_CHROOT"]
    assert outcome(profile(dropped), "chroot", 0) == EPERM


def test_ptrace_needs_the_capability_before_kernel_4_8() -> None:
    assert outcome(profile(kernel=(4, 4)), "ptrace", 0) == EPERM
    assert outcome(profile(kernel=(4, 8)), "ptrace", 0) == "allow"
    assert (
        outcome(profile([*DEFAULT_CAPABILITIES, "CAP_SYS_PTRACE"], kernel=(4, 4)), "ptrace", 0)
        == "allow"
    )


def test_aarch64() -> None:
    seccomp = profile(machine="aarch64")
    assert_valid_oci(seccomp)
    assert seccomp["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert outcome(seccomp, "set_tls", 0) == "allow"
    assert outcome(seccomp, "arch_prctl", 0) == EPERM


DOCKER_FORMAT = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"name": "mount", "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["arm64"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "99.0"}},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
    ],
}  # fmt: skip


def test_docker_format_profile_expands_for_the_container() -> None:
    seccomp = docker_profile(json.dumps(DOCKER_FORMAT), DEFAULT_CAPABILITIES, machine="x86_64",
                             kernel=KERNEL)  # fmt: skip
    assert seccomp is not None
    assert_valid_oci(seccomp)
    assert seccomp["defaultAction"] == "SCMP_ACT_ALLOW"
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [r["names"] for r in seccomp["syscalls"]] == [["mkdir", "mkdirat"], ["mount"], ["kill"]]
    assert seccomp["syscalls"][0]["errnoRet"] == 13
    assert seccomp["syscalls"][2]["args"] == [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]
    admin = docker_profile(json.dumps(DOCKER_FORMAT), ["CAP_SYS_ADMIN"], machine="aarch64",
                           kernel=KERNEL)  # fmt: skip
    assert admin is not None
    assert [r["names"] for r in admin["syscalls"]] == [["mkdir", "mkdirat"], ["reboot"], ["kill"]]


# What dockerd 20.10.24 answered at start (500; the create had succeeded), observed.
BAD_PROFILES = [
    ("{bad", "Decoding seccomp profile failed: invalid character 'b' looking for beginning "
             "of object key string"),
    ("{} x", "Decoding seccomp profile failed: invalid character 'x' after top-level value"),
    ("{", "Decoding seccomp profile failed: unexpected end of JSON input"),
    ('{"defaultAction":"SCMP_ACT_ALLOW","x":[1,}',
     "Decoding seccomp profile failed: invalid character '}' looking for beginning of value"),
    ("[1,2]", "Decoding seccomp profile failed: json: cannot unmarshal array into Go value of "
              "type seccomp.Seccomp"),
    ('"str"', "Decoding seccomp profile failed: json: cannot unmarshal string into Go value "
              "of type seccomp.Seccomp"),
    ("true", "Decoding seccomp profile failed: json: cannot unmarshal bool into Go value of "
             "type seccomp.Seccomp"),
    ('{"defaultAction":5}', "Decoding seccomp profile failed: json: cannot unmarshal number "
     "into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction"),
    ('{"syscalls":{}}', "Decoding seccomp profile failed: json: cannot unmarshal object into "
     "Go struct field Seccomp.syscalls of type []*seccomp.Syscall"),
    ('{"syscalls":[3]}', "Decoding seccomp profile failed: json: cannot unmarshal number into "
     "Go struct field Seccomp.syscalls of type seccomp.Syscall"),
    ('{"syscalls":[{"names":"read"}]}', "Decoding seccomp profile failed: json: cannot "
     "unmarshal string into Go struct field Syscall.syscalls.names of type []string"),
    ('{"syscalls":[{"names":[1]}],"defaultAction":"SCMP_ACT_ALLOW"}', "Decoding seccomp "
     "profile failed: json: cannot unmarshal number into Go struct field "
     "Syscall.syscalls.names of type string"),
    ('{"architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}],'
     '"defaultAction":"SCMP_ACT_ALLOW"}', "'architectures' and 'archMap' were specified in "
     "the seccomp profile, use either 'architectures' or 'archMap'"),
    ('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],'
     '"action":"SCMP_ACT_ALLOW"}]}', "'name' and 'names' were specified in the seccomp "
     "profile, use either 'name' or 'names'"),
    ('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],'
     '"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}', "Decoding seccomp profile "
     'failed: invalid kernel version: "4", expected "<kernel>.<major>"'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD_PROFILES)
def test_bad_custom_profiles_fail_the_start_with_dockerds_text(text: str, message: str) -> None:
    assert parse_security_opts([f"seccomp={text}"]).seccomp == text  # create accepts it
    with pytest.raises(StartError) as caught:
        container_seccomp(text, False, DEFAULT_CAPABILITIES)
    assert (caught.value.http_status, caught.value.message) == (500, message)


@pytest.mark.parametrize("text", ["{}", "null", '{"syscalls": []}', '{"comment": "x"}'])
def test_a_profile_with_no_action_and_no_rules_is_unconfined(text: str) -> None:
    assert container_seccomp(text, False, DEFAULT_CAPABILITIES) is None


def test_go_decoding_rules() -> None:
    """Keys match case-insensitively, unknown keys are dropped, an action left out stays
    empty (runc's refusal then), a rule for other capabilities is not checked."""
    text = json.dumps({
        "DefaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 38, "flags": ["x"],
        "syscalls": [
            {"Names": ["mkdir"], "ERRNORET": 13, "action": "SCMP_ACT_ERRNO"},
            {"names": ["kill"], "args": [{"index": 1, "op": "SCMP_CMP_EQ"}]},
            {"name": "a", "names": ["b"], "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    })  # fmt: skip
    seccomp = container_seccomp(text, False, DEFAULT_CAPABILITIES)
    assert seccomp == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [],
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["kill"], "action": "",
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
        ],
    }  # fmt: skip
    for wrong, message in [
        ('{"syscalls": [{"errnoRet": -1, "args": [{"index": 1.5}]}]}',
         "json: cannot unmarshal number -1 into Go struct field Syscall.syscalls.errnoRet "
         "of type uint"),
        ('{"syscalls": [{"excludes": {"minKernel": "4.300"}}]}',
         'invalid kernel version: "4.300", expected "<kernel>.<major>": '
         'strconv.ParseUint: parsing "300": value out of range'),
    ]:  # fmt: skip
        with pytest.raises(StartError) as caught:
            container_seccomp(wrong, False, DEFAULT_CAPABILITIES)
        assert caught.value.message == "Decoding seccomp profile failed: " + message


def test_unconfined_and_privileged_have_no_filter() -> None:
    assert container_seccomp("unconfined", False, DEFAULT_CAPABILITIES) is None
    assert container_seccomp("", True, DEFAULT_CAPABILITIES) is None
    assert container_seccomp(json.dumps(DOCKER_FORMAT), True, DEFAULT_CAPABILITIES) is None
    assert container_seccomp("", False, DEFAULT_CAPABILITIES) is not None


def test_info_lists_seccomp_and_apparmor_only_where_the_host_has_it(tmp_path: Path) -> None:
    flag = tmp_path / "enabled"
    assert apparmor_enabled(str(flag)) is False  # no module: no AppArmor, as on this machine
    flag.write_text("N\n")
    assert apparmor_enabled(str(flag)) is False
    flag.write_text("Y\n")
    assert apparmor_enabled(str(flag)) is True
    assert info_security_options(False) == ["name=seccomp,profile=default"]
    assert info_security_options(True) == ["name=apparmor", "name=seccomp,profile=default"]
    host_has_it = Path(APPARMOR_ENABLED).exists() and Path(APPARMOR_ENABLED).read_text()[:1] == "Y"
    assert apparmor_enabled() is host_has_it
