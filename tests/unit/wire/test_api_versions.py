"""The version history table and each version switch, one version before its change and
at it. The replies here are built by hand in the newest shape the builders produce; the
integration test (tests/integration/http/test_api_versions.py) asks a real daemon."""

from pathlib import Path
from typing import Any, cast

import pytest

from api.routes.image_platform import decode_platform
from daemon.errors import InvalidParameter
from wire import api_versions as av
from wire.api_versions import (
    CHANGES,
    CURRENT_API_VERSION,
    MIN_API_VERSION,
    ApiVersion,
    Change,
    Handling,
)
from wire.container import (
    ContainerCreateRequest,
    ContainerInspect,
    ContainerSummary,
    ContainerUpdateRequest,
    Health,
    create_at,
    endpoints_at,
    inspect_at,
    summary_at,
    update_at,
)
from wire.events import events_content_type
from wire.image import ImageInspect, ImageSummary
from wire.image import inspect_at as image_inspect_at
from wire.image import summary_at as image_summary_at
from wire.networks import network_at
from wire.stats import StatsJSON, stats_at
from wire.system import DiskUsage, InfoResponse, disk_usage_at, info_at

DOC = Path(__file__).parents[3] / "docs" / "API_VERSIONS.md"
CID = "0123456789ab" + "c" * 52


def before(change: Change) -> ApiVersion:
    return ApiVersion(change.version.major, change.version.minor - 1)


def at(change: Change) -> ApiVersion:
    return change.version


# --- the table ---------------------------------------------------------------------------


def test_docs_table_is_generated_from_the_registry() -> None:
    assert DOC.read_text() == av.markdown(), "run: python -m wire.api_versions > " + str(DOC)


def test_every_row_is_within_the_versions_served() -> None:
    assert len({c.key for c in CHANGES}) == len(CHANGES)
    for change in CHANGES:
        assert MIN_API_VERSION < change.version <= CURRENT_API_VERSION, change.key
        assert change.moorage and change.item and change.endpoint, change.key
    # In the order of the version history.
    assert [c.version for c in CHANGES] == sorted(c.version for c in CHANGES)


def test_applies_from_its_version_on() -> None:
    change = av.NO_VIRTUAL_SIZE
    assert not change.applies(ApiVersion(1, 43))
    assert change.applies(ApiVersion(1, 44))
    assert change.applies(CURRENT_API_VERSION)
    assert {h for h in Handling} == {c.handling for c in CHANGES}


# --- images ------------------------------------------------------------------------------


def _summary(**changes: Any) -> ImageSummary:
    summary: ImageSummary = {
        "Containers": -1,
        "Created": 1,
        "Id": "sha256:" + "a" * 64,
        "Labels": None,
        "ParentId": "",
        "RepoDigests": [],
        "RepoTags": ["busybox:latest"],
        "SharedSize": -1,
        "Size": 100,
    }
    return cast(ImageSummary, {**summary, **changes})


def test_image_summary_virtual_size() -> None:
    change = av.NO_VIRTUAL_SIZE
    assert image_summary_at(_summary(), before(change))["VirtualSize"] == 100
    assert "VirtualSize" not in image_summary_at(_summary(), at(change))


def test_image_summary_untagged_names() -> None:
    change = av.IMAGES_NO_NONE_TAGS
    untagged = _summary(RepoTags=[], RepoDigests=[])
    old = image_summary_at(untagged, before(change))
    assert (old["RepoTags"], old["RepoDigests"]) == (["<none>:<none>"], ["<none>@<none>"])
    assert image_summary_at(_summary(), before(change))["RepoDigests"] is None
    new = image_summary_at(untagged, at(change))
    assert (new["RepoTags"], new["RepoDigests"]) == ([], [])


def test_image_summary_containers_and_shared_size() -> None:
    count = av.IMAGES_CONTAINERS_COUNT
    assert image_summary_at(_summary(), before(count), containers=2)["Containers"] == -1
    assert image_summary_at(_summary(), at(count), containers=2)["Containers"] == 2
    shared = av.IMAGES_SHARED_SIZE
    # The route passes shared_size only when asked for at 1.42 or newer.
    assert image_summary_at(_summary(), at(shared))["SharedSize"] == -1
    assert image_summary_at(_summary(), at(shared), shared_size=7)["SharedSize"] == 7


def _image_inspect(**changes: Any) -> ImageInspect:
    config = {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": ["PATH=/bin"], "Cmd": ["sh"], "Image": "",
        "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None,
        "Labels": None,
    }  # fmt: skip
    inspect = {
        "Id": "sha256:" + "a" * 64, "RepoTags": [], "RepoDigests": [], "Parent": "",
        "Comment": "", "Created": "2024-01-01T00:00:00Z", "Container": "",
        "ContainerConfig": {"Hostname": ""}, "DockerVersion": "", "Author": "",
        "Config": config, "Architecture": "amd64", "Os": "linux", "Size": 1,
        "VirtualSize": 1, "GraphDriver": {"Data": None, "Name": "overlayfs"},
        "RootFS": {"Type": "layers"}, "Metadata": {"LastTagTime": ""},
    }  # fmt: skip
    return cast(ImageInspect, {**inspect, **changes})


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (av.IMAGE_INSPECT_NO_CONTAINER, "ContainerConfig"),
        (av.IMAGE_INSPECT_NO_CONTAINER, "Container"),
        (av.NO_VIRTUAL_SIZE, "VirtualSize"),
        (av.IMAGE_INSPECT_OMIT_EMPTY, "Author"),
        (av.IMAGE_INSPECT_OMIT_EMPTY, "Parent"),
    ],
)
def test_image_inspect_drops_a_field(change: Change, key: str) -> None:
    assert key in image_inspect_at(_image_inspect(), before(change))
    assert key not in image_inspect_at(_image_inspect(), at(change))


def test_image_inspect_config_fields() -> None:
    oci_only = av.IMAGE_CONFIG_OCI_ONLY
    old = image_inspect_at(_image_inspect(), before(oci_only))["Config"]
    new = image_inspect_at(_image_inspect(), at(oci_only))["Config"]
    assert old is not None and new is not None
    assert "Tty" in old and "Hostname" in old
    assert "Tty" not in new and "Hostname" not in new and "Entrypoint" in new
    omit = av.IMAGE_INSPECT_OMIT_EMPTY
    newest = image_inspect_at(_image_inspect(), at(omit))["Config"]
    assert newest == {"Env": ["PATH=/bin"], "Cmd": ["sh"]}


def test_image_descriptor() -> None:
    change = av.IMAGE_DESCRIPTOR
    descriptor = {"mediaType": "m", "digest": "sha256:1", "size": 1}
    assert "Descriptor" not in image_summary_at(_summary(Descriptor=descriptor), before(change))
    assert image_summary_at(_summary(Descriptor=descriptor), at(change))["Descriptor"] == descriptor
    inspect = _image_inspect(Descriptor=descriptor)
    assert "Descriptor" not in image_inspect_at(inspect, before(change))
    assert image_inspect_at(inspect, at(change))["Descriptor"] == descriptor


def test_image_inspect_created_without_one() -> None:
    change = av.IMAGE_CREATED_OMITTED
    assert image_inspect_at(_image_inspect(Created=""), before(change))["Created"] == (
        "0001-01-01T00:00:00Z"
    )
    assert "Created" not in image_inspect_at(_image_inspect(Created=""), at(change))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "failed to parse platform"),
        ('{"variant":"v8"}', "optional platform fields provided, but OS and Architecture"),
        ('{"os":"linux"}', "both OS and Architecture must be provided"),
    ],
)
def test_platform_parameter_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        decode_platform(text)
    assert decode_platform('{"os":"linux","architecture":"amd64"}')["os"] == "linux"


# --- containers --------------------------------------------------------------------------


def _create(body: dict[str, Any], version: ApiVersion) -> tuple[ContainerCreateRequest, list[str]]:
    request = ContainerCreateRequest.model_validate({"Image": "busybox", **body})
    warnings = create_at(request, version)
    return request, warnings


def test_create_kernel_memory_and_console_size() -> None:
    kernel = av.KERNEL_MEMORY_IGNORED
    body = {"HostConfig": {"KernelMemory": 1 << 30, "ConsoleSize": [24, 80]}}
    old, _ = _create(body, before(kernel))
    new, _ = _create(body, at(kernel))
    assert old.HostConfig is not None and new.HostConfig is not None
    assert (old.HostConfig.KernelMemory, new.HostConfig.KernelMemory) == (1 << 30, 0)
    assert (old.HostConfig.ConsoleSize, new.HostConfig.ConsoleSize) == ((0, 0), (24, 80))


def test_create_mount_options_must_match_the_type() -> None:
    change = av.MOUNT_OPTIONS_MATCH_TYPE
    body = {"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/", "Target": "/x",
                                       "VolumeOptions": {"NoCopy": True}}]}}  # fmt: skip
    old, _ = _create(body, before(change))
    assert old.HostConfig is not None and old.HostConfig.Mounts is not None
    assert old.HostConfig.Mounts[0].VolumeOptions is None
    with pytest.raises(
        av.VersionRefusal, match='VolumeOptions must not be specified on mount type "bind"'
    ):
        _create(body, at(change))


def test_create_health_start_interval() -> None:
    change = av.HEALTH_START_INTERVAL
    body = {"Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 10**9}}
    old, _ = _create(body, before(change))
    new, _ = _create(body, at(change))
    assert old.Healthcheck is not None and new.Healthcheck is not None
    assert (old.Healthcheck.StartInterval, new.Healthcheck.StartInterval) == (0, 10**9)


def test_create_several_endpoints() -> None:
    change = av.MULTIPLE_ENDPOINTS
    body: dict[str, Any] = {"NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {}}}}
    with pytest.raises(av.VersionRefusal, match="cannot be connected to network endpoints: a, b"):
        _create(body, before(change))
    _create(body, at(change))


def test_create_container_wide_mac() -> None:
    body = {"MacAddress": "02:42:ac:11:00:09"}
    assert _create(body, before(av.ENDPOINT_MAC_ADDRESS))[1] == []
    assert (
        "container-wide MacAddress field is now deprecated"
        in (_create(body, at(av.ENDPOINT_MAC_ADDRESS))[1][0])
    )
    with pytest.raises(av.VersionRefusal, match="container-wide MAC address no longer"):
        _create(body, at(av.CONTAINER_MAC_REFUSED))
    clash = {
        **body,
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "02:00:00:00:00:01"}}},
    }
    with pytest.raises(av.VersionRefusal, match="must match the endpoint-specific MAC"):
        _create(clash, at(av.ENDPOINT_MAC_ADDRESS))
    endpoint = {"NetworkingConfig": {"EndpointsConfig": {"n": {"MacAddress": "02:42:ac:11:00:0a"}}}}
    old, _ = _create(endpoint, before(av.ENDPOINT_MAC_ADDRESS))
    assert old.endpoints_config() == {"n": {**old.endpoints_config()["n"], "MacAddress": ""}}  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "mount", "message"),
    [
        (av.READ_ONLY_FORCE_RECURSIVE,
         {"Type": "bind", "Source": "/", "Target": "/x",
          "BindOptions": {"ReadOnlyForceRecursive": True}},
         "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"),
        (av.VOLUME_SUBPATH,
         {"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": "a"}},
         "VolumeOptions.Subpath needs API v1.45 or newer"),
        (av.IMAGE_MOUNTS, {"Type": "image", "Source": "busybox", "Target": "/x"},
         'Mount type "Image" needs API v1.48 or newer'),
    ],
)  # fmt: skip
def test_create_refuses_what_came_later(
    change: Change, mount: dict[str, Any], message: str
) -> None:
    with pytest.raises(av.VersionRefusal, match=message):
        _create({"HostConfig": {"Mounts": [mount]}}, before(change))


def test_create_volume_driver_warning() -> None:
    change = av.VOLUME_DRIVER_WARNING
    mount = {"Type": "volume", "Source": "v", "Target": "/x"}
    body = {"HostConfig": {"VolumeDriver": "local", "Mounts": [mount]}}
    assert _create(body, before(change))[1] == []
    assert "volume-driver configuration is ignored" in _create(body, at(change))[1][0]


def test_update_drops_fields_by_version() -> None:
    body = {
        "KernelMemory": 1,
        "KernelMemoryTCP": 2,
        "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 10}],
    }
    old = ContainerUpdateRequest.model_validate(body)
    update_at(old, before(av.KERNEL_MEMORY_IGNORED))
    assert (old.KernelMemory, old.KernelMemoryTCP, old.BlkioWeightDevice) == (1, 2, None)
    new = ContainerUpdateRequest.model_validate(body)
    update_at(new, at(av.UPDATE_BLKIO_DEVICES))
    assert (new.KernelMemory, new.KernelMemoryTCP) == (0, 0)
    assert new.BlkioWeightDevice is not None


def _networks() -> dict[str, Any]:
    return {
        "net1": {"Aliases": ["web"], "EndpointID": "e1", "DNSNames": ["c1", "web", CID[:12]]},
        "bridge": {"Aliases": None, "EndpointID": "e2", "DNSNames": None},
    }


def test_endpoints_dns_names_and_aliases() -> None:
    dns = endpoints_at(_networks(), CID, before(av.DNS_NAMES))
    assert "DNSNames" not in dns["net1"]
    assert endpoints_at(_networks(), CID, at(av.DNS_NAMES))["net1"]["DNSNames"][0] == "c1"
    old = endpoints_at(_networks(), CID, before(av.ALIASES_WITHOUT_SHORT_ID))
    assert old["net1"]["Aliases"] == ["web", CID[:12]]
    assert old["bridge"]["Aliases"] is None
    assert endpoints_at(_networks(), CID, at(av.ALIASES_WITHOUT_SHORT_ID))["net1"]["Aliases"] == [
        "web"
    ]


def _inspect() -> ContainerInspect:
    settings = {"Bridge": "", "SandboxID": "s", "HairpinMode": False, "Ports": {},
                "SandboxKey": "k", "IPAddress": "", "MacAddress": "",
                "Networks": _networks()}  # fmt: skip
    return cast(ContainerInspect, {
        "Id": CID,
        "HostConfig": {"KernelMemory": 0, "KernelMemoryTCP": 0, "Memory": 0},
        "Config": {"OnBuild": None, "Image": "busybox"},
        "NetworkSettings": settings,
    })  # fmt: skip


def test_container_inspect_network_settings() -> None:
    change = av.NETWORK_SETTINGS_NO_LEGACY
    old = inspect_at(_inspect(), before(change))["NetworkSettings"]
    new = inspect_at(_inspect(), at(change))["NetworkSettings"]
    assert "IPAddress" in old and "Bridge" in old
    assert list(new) == ["SandboxID", "SandboxKey", "Ports", "Networks"]


def test_container_inspect_on_build_and_kernel_memory() -> None:
    onbuild = av.CONTAINER_ONBUILD_OMITTED
    assert "OnBuild" in inspect_at(_inspect(), before(onbuild))["Config"]
    assert "OnBuild" not in inspect_at(_inspect(), at(onbuild))["Config"]
    kernel = av.KERNEL_MEMORY_IGNORED
    assert "KernelMemory" in inspect_at(_inspect(), before(kernel))["HostConfig"]
    assert "KernelMemory" not in inspect_at(_inspect(), at(kernel))["HostConfig"]
    tcp = av.KERNEL_MEMORY_TCP_REMOVED
    body = _inspect()
    body["HostConfig"]["KernelMemoryTCP"] = 5
    assert inspect_at(body, before(tcp))["HostConfig"]["KernelMemoryTCP"] == 5
    assert "KernelMemoryTCP" not in inspect_at(body, at(tcp))["HostConfig"]


def test_image_manifest_descriptor() -> None:
    change = av.IMAGE_MANIFEST_DESCRIPTOR
    descriptor = {"mediaType": "m", "digest": "sha256:1", "size": 1}
    body = cast(ContainerInspect, {**_inspect(), "ImageManifestDescriptor": descriptor})
    assert "ImageManifestDescriptor" not in inspect_at(body, before(change))
    assert inspect_at(body, at(change))["ImageManifestDescriptor"] == descriptor
    summary = cast(ContainerSummary, {"Id": CID, "NetworkSettings": {"Networks": {}},
                                      "ImageManifestDescriptor": descriptor})  # fmt: skip
    assert "ImageManifestDescriptor" not in summary_at(summary, before(change), None)
    assert "ImageManifestDescriptor" in summary_at(summary, at(change), None)


def test_container_summary_health() -> None:
    change = av.CONTAINER_LIST_HEALTH
    summary = cast(
        ContainerSummary,
        {"Id": CID, "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {"Networks": {}}},
    )
    health: Health = {"Status": "healthy", "FailingStreak": 0, "Log": []}
    assert list(summary_at(summary, at(change), health)) == [
        "Id", "HostConfig", "Health", "NetworkSettings",
    ]  # fmt: skip
    assert "Health" not in summary_at(summary, before(change), health)
    assert summary_at(summary, at(change), health)["Health"] == {
        "Status": "healthy",
        "FailingStreak": 0,
    }
    assert "Health" not in summary_at(summary, at(change), None)


# --- events, stats, info -------------------------------------------------------------------


def test_events_content_type() -> None:
    negotiation = av.EVENTS_CONTENT_NEGOTIATION
    assert events_content_type(before(negotiation), "application/json-seq") == "application/json"
    assert events_content_type(at(negotiation), "") == "application/jsonl"
    assert events_content_type(at(negotiation), "*/*") == "application/jsonl"
    assert events_content_type(at(negotiation), "application/json-seq") == "application/json-seq"
    assert (
        events_content_type(at(negotiation), "text/html, application/x-ndjson;q=0.9")
        == "application/x-ndjson"
    )


def test_stats_os_type_follows_id() -> None:
    change = av.STATS_OS_TYPE
    sample = cast(StatsJSON, {"read": "", "name": "/c", "id": CID, "networks": {}})
    assert "os_type" not in stats_at(sample, before(change))
    assert list(stats_at(sample, at(change))) == ["read", "name", "id", "os_type", "networks"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (av.INFO_CONTAINERD, "Containerd"),
        (av.INFO_FIREWALL_BACKEND, "FirewallBackend"),
        (av.INFO_CDI_SPEC_DIRS, "CDISpecDirs"),
    ],
)
def test_info_fields(change: Change, key: str) -> None:
    info = cast(
        InfoResponse, {"ID": "x", "Containerd": {}, "FirewallBackend": {}, "CDISpecDirs": []}
    )
    assert key not in info_at(info, before(change))
    assert key in info_at(info, at(change))


# --- system df -----------------------------------------------------------------------------


def _df() -> DiskUsage:
    image = _summary(Containers=1, SharedSize=0)
    idle_image = _summary(Id="sha256:" + "b" * 64, Containers=0, SharedSize=40)
    running = {"Id": CID, "State": "running", "SizeRw": 5}
    exited = {"Id": "e" * 64, "State": "exited", "SizeRw": 7}
    volume = {"Name": "v", "UsageData": {"Size": 9, "RefCount": 0}}
    return cast(DiskUsage, {
        "LayersSize": 160, "Images": [image, idle_image], "Containers": [running, exited],
        "Volumes": [volume], "BuildCache": [],
    })  # fmt: skip


def test_df_types() -> None:
    change = av.DF_TYPE
    assert set(disk_usage_at(_df(), before(change), types=["volume"])) == {
        "LayersSize", "Images", "Containers", "Volumes", "BuildCache",
    }  # fmt: skip
    assert set(disk_usage_at(_df(), at(change), types=["volume", "image"])) == {
        "LayersSize", "Images", "Volumes",
    }  # fmt: skip
    with pytest.raises(av.VersionRefusal, match="unknown object type: nope"):
        disk_usage_at(_df(), at(change), types=["nope"])


def test_df_usage_totals() -> None:
    change = av.DF_USAGE
    assert "ImageUsage" not in disk_usage_at(_df(), before(change))
    usage = disk_usage_at(_df(), at(change))
    assert usage["LayersSize"] == 160  # the legacy fields stay, as dockerd sends them
    assert usage["ImageUsage"] == {
        "ActiveCount": 1, "Reclaimable": 60, "TotalCount": 2, "TotalSize": 160,
    }  # fmt: skip
    assert usage["ContainerUsage"] == {
        "ActiveCount": 1, "Reclaimable": 7, "TotalCount": 2, "TotalSize": 12,
    }  # fmt: skip
    assert usage["VolumeUsage"] == {"Reclaimable": 9, "TotalCount": 1, "TotalSize": 9}
    assert usage["BuildCacheUsage"] == {}
    verbose = disk_usage_at(_df(), at(change), types=["container"], verbose=True)
    assert list(verbose) == ["ContainerUsage"]
    assert [c["Id"] for c in verbose["ContainerUsage"]["Items"]] == [CID, "e" * 64]


def test_network_fields() -> None:
    network = {"Name": "n", "EnableIPv4": True, "EnableIPv6": False, "Status": {"IPAM": {}}}
    assert list(network_at(network, before(av.NETWORK_ENABLE_IPV4))) == ["Name", "EnableIPv6"]
    assert "EnableIPv4" in network_at(network, at(av.NETWORK_ENABLE_IPV4))
    assert "Status" not in network_at(network, before(av.NETWORK_STATUS))
    assert network_at(network, at(av.NETWORK_STATUS)) == network


def test_create_empty_port_bindings_warning() -> None:
    change = av.EMPTY_PORT_BINDINGS_WARNING
    body: dict[str, Any] = {
        "HostConfig": {"PortBindings": {"80/tcp": [], "53/udp": None, "22/tcp": [{}]}}
    }
    assert _create(body, before(change))[1] == []
    assert _create(body, at(change))[1] == [
        "Following container port(s) have an empty list of port-bindings: 53/udp, 80/tcp. "
        "Such bindings will be discarded in a future version."
    ]
