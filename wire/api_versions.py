"""Engine API versions and what changed in each: the one place version switches live.

``CHANGES`` is Docker's API version history from 1.42 to the newest version, one
``Change`` per item that touches an endpoint moorage serves, with what moorage does
about it (and, first, the switches of older versions that moorage keeps). Code
that behaves differently by version asks a named change
(``IMAGE_INSPECT_NO_CONTAINER.applies(version)``) instead of comparing numbers, so a
switch is declared once, next to its row in the table. ``docs/API_VERSIONS.md`` is
generated from this table (``python -m wire.api_versions``) and a unit test keeps
the two equal.

``applies(version)`` is true from the change's version on: dockerd switches on the
version in the request's path, and an unprefixed request counts as the newest.
"""

import enum
import sys
from dataclasses import dataclass
from typing import NamedTuple


class ApiVersion(NamedTuple):
    """A ``major.minor`` API version; compares like a tuple."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "ApiVersion":
        # Lenient like dockerd: a missing or non-numeric part counts as 0.
        parts = [int(p) if p.isdigit() else 0 for p in text.split(".")]
        parts += [0, 0]
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


# The newest version advertised (swagger-latest.yaml's info.version) and the oldest
# accepted: docker-compose 1.29 speaks 1.38, and old SDKs still pin 1.24.
CURRENT_API_VERSION = ApiVersion(1, 56)
MIN_API_VERSION = ApiVersion(1, 24)


class VersionRefusal(ValueError):
    """A request this API version refuses; the API layer answers it with a 400."""


class Handling(enum.StrEnum):
    IMPLEMENTED = "implemented"
    REFUSED = "refused"  # answered with dockerd's error for a daemon without the feature
    NOT_APPLICABLE = "not applicable"
    # The older answer at every version, on purpose: a client in use that cannot do
    # without it picks this version (the row's `moorage` says which and why).
    KEPT = "kept"


@dataclass(frozen=True)
class Change:
    key: str  # short and stable: tests name their probe by it
    version: ApiVersion
    endpoint: str
    item: str
    handling: Handling
    moorage: str  # what moorage does

    def applies(self, version: ApiVersion) -> bool:
        """True for requests made at this change's version or newer."""
        return version >= self.version


CHANGES: list[Change] = []


def _change(
    key: str, version: str, endpoint: str, item: str, handling: Handling, moorage: str
) -> Change:
    change = Change(key, ApiVersion.parse(version), endpoint, item, handling, moorage)
    assert all(c.key != key for c in CHANGES), key
    CHANGES.append(change)
    return change


_I, _R, _NA, _K = (
    Handling.IMPLEMENTED,
    Handling.REFUSED,
    Handling.NOT_APPLICABLE,
    Handling.KEPT,
)

# --- before 1.42: the switches of 20.10's API that moorage keeps -------------------------

UPDATE_PIDS_LIMIT = _change(
    "update-pids-limit", "1.40", "POST /containers/{id}/update", "PidsLimit",
    _I, "ignored before 1.40; from 1.40 applied, 0 and below meaning unlimited",
)  # fmt: skip
IMAGES_FILTER_PARAM_REMOVED = _change(
    "images-filter-param", "1.41", "GET /images/json", "`filter` (singular) removed",
    _I, "before 1.41 `filter` is a reference filter (docker-py at 1.24 sends it), as dockerd",
)  # fmt: skip
STATS_ONE_SHOT = _change(
    "stats-one-shot", "1.41", "GET /containers/{id}/stats", "`one-shot` with stream=false",
    _I, "from 1.41 a single sample without the priming one (preread is the zero time)",
)  # fmt: skip

# --- 1.42 -----------------------------------------------------------------------------

HIJACK_MULTIPLEXED_TYPE = _change(
    "hijack-content-type", "1.42", "POST /containers/{id}/attach, POST /exec/{id}/start",
    "non-TTY hijacked streams say application/vnd.docker.multiplexed-stream",
    _I, "raw-stream before 1.42, multiplexed-stream from 1.42 (TTY streams stay raw)",
)  # fmt: skip
LOGS_MULTIPLEXED_TYPE = _change(
    "logs-content-type", "1.42", "GET /containers/{id}/logs",
    "non-TTY logs say application/vnd.docker.multiplexed-stream",
    _I, "raw-stream before 1.42, multiplexed-stream from 1.42",
)  # fmt: skip
STOP_SIGNAL_PARAM = _change(
    "stop-signal", "1.42", "POST /containers/{id}/stop, POST /containers/{id}/restart",
    "`signal` query parameter overrides the stop signal",
    _I, "`signal` read from 1.42 (stop and restart), ignored before",
)  # fmt: skip
IMAGES_SHARED_SIZE = _change(
    "images-shared-size", "1.42", "GET /images/json",
    "`shared-size` query parameter fills SharedSize",
    _I, "SharedSize is -1 unless `shared-size=1` at 1.42 or newer",
)  # fmt: skip
DF_TYPE = _change(
    "df-type", "1.42", "GET /system/df",
    "`type` query parameter selects the object types",
    _I, "from 1.42 only the types asked for are returned (an unknown one is dockerd's 400)",
)  # fmt: skip
_change(
    "df-builder-size", "1.42", "GET /system/df", "BuilderSize removed",
    _NA, "moorage never sent BuilderSize",
)  # fmt: skip
_change(
    "df-concurrent", "1.42", "GET /system/df", "concurrent requests share one computation",
    _NA, "unversioned; each request computes its own answer, none is refused",
)  # fmt: skip
_change(
    "import-platform", "1.42", "POST /images/create?fromSrc",
    "`platform` sets the imported image's OS and architecture (unversioned)",
    _I, "`platform` (os[/arch[/variant]]) sets the imported image's platform at every "
    "version; the host's without it",
)  # fmt: skip
_change(
    "wait-condition-400", "1.42", "POST /containers/{id}/wait",
    "an invalid `condition` is a 400 (from 1.30)",
    _I, "400 with dockerd's text at every version moorage serves",
)  # fmt: skip
KERNEL_MEMORY_IGNORED = _change(
    "kernel-memory", "1.42", "POST /containers/create, POST /containers/{id}/update",
    "KernelMemory is ignored",
    _I, "KernelMemory is dropped from the request at 1.42 and newer",
)  # fmt: skip
_change(
    "kernel-memory-omitted", "1.42", "GET /containers/{id}/json, GET /info",
    "KernelMemory and KernelMemoryTCP omitted when not set",
    _I, "omitted from inspect's HostConfig when 0 from 1.42; /info never had them",
)  # fmt: skip
_change(
    "ping-builder-version", "1.42", "GET /_ping", "Builder-Version header (unversioned)",
    _NA, "moorage has no builder of its own; the header is not sent",
)  # fmt: skip
_change(
    "ping-swarm", "1.42", "GET /_ping", "Swarm header (unversioned, optional)",
    _NA, "optional by the spec; clients fall back to /info, which says inactive",
)  # fmt: skip
_change(
    "windows-devices", "1.42", "POST /containers/create", "Windows device syntax",
    _NA, "Linux only",
)  # fmt: skip
_change(
    "cluster-volumes", "1.42", "POST /volumes/create, GET /volumes, PUT /volumes/{name}",
    "ClusterVolumeSpec, ClusterVolume and PUT /volumes/{name} (swarm managers only)",
    _NA, "no swarm: ClusterVolumeSpec is ignored as dockerd does on a non-manager, "
    "PUT /volumes/{name} is not served",
)  # fmt: skip
_change(
    "df-build-cache-parents", "1.42", "GET /system/df", "BuildCache.Parent/Parents",
    _NA, "no build cache: BuildCache is always empty",
)  # fmt: skip
_change(
    "attach-ws-streams", "1.42", "GET /containers/{id}/attach/ws",
    "stdin/stdout/stderr parameters honoured",
    _NA, "the websocket attach endpoint is not served",
)  # fmt: skip
CONSOLE_SIZE_AT_CREATE = _change(
    "create-console-size", "1.42", "POST /containers/create",
    "HostConfig.ConsoleSize respected on Linux",
    _I, "ConsoleSize is reset to [0,0] before 1.42",
)  # fmt: skip
MOUNT_OPTIONS_MATCH_TYPE = _change(
    "mount-options-type", "1.42", "POST /containers/create",
    "BindOptions/VolumeOptions/TmpfsOptions must match the mount Type",
    _I, "400 with dockerd's text from 1.42; before, mismatched options are dropped",
)  # fmt: skip
_change(
    "create-mountpoint", "1.42", "POST /containers/create",
    "BindOptions.CreateMountpoint",
    _I, "a missing bind source is made at start, as for Binds; dropped before 1.42",
)  # fmt: skip
EXEC_CONSOLE_SIZE = _change(
    "exec-console-size", "1.42", "POST /containers/{id}/exec, POST /exec/{id}/start",
    "ConsoleSize on exec create and start",
    _I, "ConsoleSize is dropped before 1.42",
)  # fmt: skip
VOLUME_PRUNE_ANONYMOUS = _change(
    "volume-prune-all", "1.42", "POST /volumes/prune",
    "prunes only anonymous volumes unless filter `all=true`",
    _I, "anonymous only from 1.42 (unless all=true); every unused volume before",
)  # fmt: skip

_change(
    "swarm-services", "1.42", "/services, /tasks, /nodes (all versions listed below too)",
    "every services/tasks/nodes change from 1.42 to 1.52 (CapAdd, Ulimits, Seccomp, "
    "OomScoreAdj, SwapBytes, tmpfs Options, Networks...)",
    _NA, "no swarm: these endpoints answer dockerd's 503 for a node that is not a manager",
)  # fmt: skip

# --- 1.43 -----------------------------------------------------------------------------

ANNOTATIONS = _change(
    "annotations", "1.43", "POST /containers/create", "HostConfig.Annotations",
    _I, "kept, shown in inspect and put in the OCI spec's annotations from 1.43; "
    "dropped from the request before",
)  # fmt: skip
IMAGES_NO_NONE_TAGS = _change(
    "images-none-tags", "1.43", "GET /images/json",
    "untagged images have empty RepoTags/RepoDigests, not <none>:<none>",
    _I, "<none>:<none> and <none>@<none> before 1.43, [] from 1.43",
)  # fmt: skip
_change(
    "info-no-new-privileges", "1.43", "GET /info",
    "no-new-privileges in SecurityOptions (unversioned)",
    _NA, "moorage has no daemon-wide no-new-privileges option",
)  # fmt: skip

# --- 1.44 -----------------------------------------------------------------------------

_change(
    "images-until", "1.44", "GET /images/json", "`until` filter (unversioned)",
    _I, "images created before the time (seconds, a date or a Go duration ago), at every "
    "version as dockerd",
)  # fmt: skip
NO_VIRTUAL_SIZE = _change(
    "virtual-size", "1.44", "GET /images/json, GET /images/{name}/json, GET /system/df",
    "VirtualSize omitted",
    _I, "VirtualSize (= Size) before 1.44, omitted from 1.44",
)  # fmt: skip
_change(
    "search-automated", "1.44", "GET /images/search", "is_automated deprecated",
    _NA, "image search is not served",
)  # fmt: skip
READ_ONLY_FORCE_RECURSIVE = _change(
    "ro-force-recursive", "1.44", "POST /containers/create",
    "BindOptions.ReadOnlyNonRecursive/ReadOnlyForceRecursive",
    _R, "before 1.44 dockerd's 400 for the version; from 1.44 dockerd's 400 for a runtime "
    "without rro: read-only binds stay non-recursive at every version",
)  # fmt: skip
HEALTH_START_INTERVAL = _change(
    "health-start-interval", "1.44", "POST /containers/create",
    "Healthcheck.StartInterval",
    _I, "kept and shown from 1.44; dropped from the request before 1.44",
)  # fmt: skip
INFO_CDI_SPEC_DIRS = _change(
    "info-cdi-spec-dirs", "1.44", "GET /info", "CDISpecDirs",
    _I, "[] from 1.44: no CDI, as dockerd without experimental",
)  # fmt: skip
_change(
    "network-create-validation", "1.44", "POST /networks/create",
    "duplicate names always refused; invalid IPAM config a 400 (both unversioned)",
    _I, "409 for a duplicate name at every version; invalid IPAM keeps dockerd 20.10's "
    "403 (the reference daemon's status, as the change is unversioned)",
)  # fmt: skip
MULTIPLE_ENDPOINTS = _change(
    "create-multiple-endpoints", "1.44", "POST /containers/create",
    "several EndpointsConfig entries",
    _I, "accepted from 1.44; dockerd's 400 before",
)  # fmt: skip
ENDPOINT_MAC_ADDRESS = _change(
    "endpoint-mac", "1.44", "POST /containers/create, POST /networks/{id}/connect",
    "per-endpoint MacAddress; container-wide Config.MacAddress deprecated",
    _I, "before 1.44 Config.MacAddress is moved to the main endpoint and endpoint "
    "MacAddress ignored; 1.44-1.51 migrated with dockerd's warning",
)  # fmt: skip
_change(
    "info-runtime-status", "1.44", "GET /info", "Runtimes[].status",
    _NA, "omitted when empty, and moorage's runtimes report none",
)  # fmt: skip
DNS_NAMES = _change(
    "dns-names", "1.44", "GET /containers/{id}/json", "EndpointSettings.DNSNames",
    _I, "name, short ID, hostname and aliases on user networks from 1.44",
)  # fmt: skip
IMAGE_CREATED_OMITTED = _change(
    "image-created-omitted", "1.44", "GET /images/{name}/json",
    "Created omitted when the config has none",
    _I, "0001-01-01T00:00:00Z before 1.44, omitted from 1.44",
)  # fmt: skip
_change(
    "endpoint-validation", "1.44", "POST /containers/create, POST /networks/{id}/connect",
    "endpoint validation at create/connect, all errors at once (unversioned)",
    _NA, "unversioned: moorage checks what it models when it connects; no switch",
)  # fmt: skip

# --- 1.45 -----------------------------------------------------------------------------

VOLUME_SUBPATH = _change(
    "volume-subpath", "1.45", "POST /containers/create", "VolumeOptions.Subpath",
    _R, "before 1.45 dockerd's 400; from 1.45 also a 400, moorage does not mount subpaths",
)  # fmt: skip
IMAGE_INSPECT_NO_CONTAINER = _change(
    "image-container-config", "1.45", "GET /images/{name}/json",
    "Container and ContainerConfig removed",
    _I, "both shown before 1.45, omitted from 1.45",
)  # fmt: skip
ALIASES_WITHOUT_SHORT_ID = _change(
    "aliases-short-id", "1.45", "GET /containers/{id}/json",
    "Aliases hold only what was asked for, no short ID",
    _I, "a running container's short ID added to its user-network Aliases before 1.45 only, "
    "as dockerd 20.10 did",
)  # fmt: skip

# --- 1.46 -----------------------------------------------------------------------------

INFO_CONTAINERD = _change(
    "info-containerd", "1.46", "GET /info", "Containerd (address and namespaces)",
    _I, "shown from 1.46",
)  # fmt: skip
_change(
    "endpoint-sysctls", "1.46", "POST /containers/create, POST /networks/{id}/connect",
    "DriverOpts com.docker.network.endpoint.sysctls",
    _NA, "endpoint DriverOpts are stored and shown, not applied as sysctls",
)  # fmt: skip
LIST_ANNOTATIONS = _change(
    "list-annotations", "1.46", "GET /containers/json", "HostConfig.Annotations",
    _I, "the container's annotations in the summary's HostConfig from 1.46",
)  # fmt: skip
IMAGE_PLATFORM_PUSH = _change(
    "push-platform", "1.46", "POST /images/{name}/push", "`platform` (JSON OCI platform)",
    _I, "decoded from 1.46 (400 if malformed); an image of another platform is a 404 "
    "with dockerd's text",
)  # fmt: skip
_change(
    "tmpfs-options", "1.46", "POST /containers/create", "TmpfsOptions.Options",
    _I, "exec/noexec applied to the tmpfs, others refused with dockerd's text; at every "
    "version, as dockerd does not switch it for containers",
)  # fmt: skip
_change(
    "image-create-event", "1.46", "GET /events", "image `create` event on build",
    _NA, "moorage builds no images",
)  # fmt: skip

# --- 1.47 -----------------------------------------------------------------------------

_change(
    "images-manifests", "1.47", "GET /images/json", "`manifests` parameter, Manifests",
    _NA, "single-platform image store: not populated, as dockerd's graphdriver store",
)  # fmt: skip

_change(
    "info-bridge-nf-warnings", "1.47", "GET /info", "no bridge-nf-call warnings (unversioned)",
    _NA, "moorage never sent them",
)  # fmt: skip

# --- 1.48 -----------------------------------------------------------------------------

_change(
    "progress-deprecated", "1.48", "POST /images/create, POST /images/{name}/push",
    "`error`/`progress` progress fields deprecated",
    _NA, "still sent next to errorDetail/progressDetail, as dockerd does",
)  # fmt: skip
_change(
    "sysctl-eth0-migration", "1.48", "POST /containers/create",
    "eth0 sysctls no longer moved to endpoint DriverOpts",
    _NA, "moorage never moved them",
)  # fmt: skip
IMAGE_PLATFORM_HISTORY = _change(
    "history-platform", "1.48", "GET /images/{name}/history", "`platform` parameter",
    _I, "decoded from 1.48; an image of another platform is dockerd's 404",
)  # fmt: skip
IMAGE_PLATFORM_SAVE = _change(
    "save-load-platform", "1.48", "GET /images/{name}/get, POST /images/load",
    "`platform` parameter",
    _I, "decoded from 1.48 (400 if malformed; several before 1.52 is dockerd's 400)",
)  # fmt: skip
VOLUME_DRIVER_WARNING = _change(
    "volume-driver-warning", "1.48", "POST /containers/create",
    "warning for VolumeDriver with volume Mounts",
    _I, "dockerd's warning in Warnings from 1.48",
)  # fmt: skip
IMAGE_MOUNTS = _change(
    "image-mounts", "1.48", "POST /containers/create", "Mount Type image",
    _R, "dockerd's 400 before 1.48; from 1.48 refused as an unsupported mount type",
)  # fmt: skip
IMAGE_DESCRIPTOR = _change(
    "image-descriptor", "1.48", "GET /images/json, GET /images/{name}/json", "Descriptor",
    _I, "the descriptor the image's name points at (its manifest, or the index above it) "
    "from 1.48",
)  # fmt: skip
_change(
    "image-manifests", "1.48", "GET /images/{name}/json", "`manifests` parameter, Manifests",
    _NA, "one platform kept per image: not populated, as dockerd's graphdriver store",
)  # fmt: skip
IMAGE_MANIFEST_DESCRIPTOR = _change(
    "image-manifest-descriptor", "1.48", "GET /containers/json, GET /containers/{id}/json",
    "ImageManifestDescriptor",
    _I, "the image's platform manifest (moorage keeps it) from 1.48; absent when the image "
    "is gone; not in /system/df, as dockerd",
)  # fmt: skip
GW_PRIORITY = _change(
    "gw-priority", "1.48", "POST /containers/create, POST /networks/{id}/connect",
    "EndpointSettings.GwPriority",
    _NA, "not modelled: ignored, as dockerd does before 1.48",
)  # fmt: skip
NETWORK_ENABLE_IPV4 = _change(
    "network-enable-ipv4", "1.48", "POST /networks/create, GET /networks/{id}",
    "EnableIPv4",
    _R, "shown (always true) from 1.48; EnableIPv4=false is refused with a 400: moorage's "
    "networks always have IPv4 (ignored before 1.48, as dockerd)",
)  # fmt: skip
_change(
    "debug-versioned", "1.48", "/debug/*", "debug endpoints under /v<version>/",
    _NA, "no debug endpoints",
)  # fmt: skip
_change(
    "build-prune", "1.48", "POST /build/prune", "reserved-space and other parameters",
    _NA, "build is not served by this layer",
)  # fmt: skip

# --- 1.49 -----------------------------------------------------------------------------

IMAGE_PLATFORM_INSPECT = _change(
    "inspect-platform", "1.49", "GET /images/{name}/json", "`platform` parameter",
    _I, "decoded from 1.49; an image of another platform is dockerd's 404",
)  # fmt: skip
INFO_FIREWALL_BACKEND = _change(
    "info-firewall", "1.49", "GET /info", "FirewallBackend",
    _I, "{Driver: nftables} from 1.49 when moorage runs bridge networking",
)  # fmt: skip
_change(
    "info-registry-commits", "1.49", "GET /info",
    "RegistryConfig.AllowNondistributable*, *Commit.Expected omitted",
    _NA, "moorage never sent these fields",
)  # fmt: skip

# --- 1.50 -----------------------------------------------------------------------------

_change(
    "info-discovered-devices", "1.50", "GET /info", "DiscoveredDevices",
    _NA, "no device drivers: omitted, as dockerd when none are found",
)  # fmt: skip
IMAGE_PLATFORM_DELETE = _change(
    "delete-platforms", "1.50", "DELETE /images/{name}", "`platforms` parameter",
    _I, "decoded from 1.50; one platform matched against the image (dockerd's 404), "
    "several are dockerd's 400",
)  # fmt: skip
_change(
    "info-bridge-nf", "1.50", "GET /info", "BridgeNfIptables/BridgeNfIp6tables omitted",
    _NA, "moorage never sent these fields",
)  # fmt: skip
IMAGE_CONFIG_OCI_ONLY = _change(
    "image-config-fields", "1.50", "GET /images/{name}/json",
    "Config without Hostname, Domainname, Attach*, Tty, OpenStdin, StdinOnce, Image",
    _I, "the container-only fields are shown before 1.50 only",
)  # fmt: skip

# --- 1.51 -----------------------------------------------------------------------------

IMAGES_CONTAINERS_COUNT = _change(
    "images-containers", "1.51", "GET /images/json", "Containers counts containers",
    _I, "-1 before 1.51, the number of containers using the image from 1.51",
)  # fmt: skip

_change(
    "deprecations-1.51", "1.51", "GET /containers/{id}/json, GET /images/{name}/json, GET /info",
    "NetworkSettings.Bridge, KernelMemoryTCP, Parent, DockerVersion deprecated",
    _NA, "deprecations only; their removals are the 1.52 rows",
)  # fmt: skip

# --- 1.52 -----------------------------------------------------------------------------

MULTI_PLATFORM_PARAMS = _change(
    "multi-platform-params", "1.52", "GET /images/{name}/get, POST /images/load",
    "several `platform` parameters",
    _R, "before 1.52 dockerd's 400 for the version; from 1.52 the 400 of a "
    "single-platform image store",
)  # fmt: skip
EVENTS_LEGACY_FIELDS = _change(
    "events-legacy", "1.52", "GET /events", "status, id and from removed",
    _K, "sent at every version, as dockerd 20.10 does: docker-compose 1.29's SDK "
    "(docker-py 5) takes the daemon's newest version, and its event watcher (logs -f, "
    "attached up) reads `id`; clients of 1.52 and later ignore the extra fields",
)  # fmt: skip
EVENTS_CONTENT_NEGOTIATION = _change(
    "events-content-type", "1.52", "GET /events",
    "Accept negotiates application/x-ndjson, application/json-seq (and jsonl, 1.53)",
    _I, "application/json before 1.52, application/jsonl from 1.52; an Accept naming "
    "one of the three types gets it (json-seq: RS before each record)",
)  # fmt: skip
NETWORK_STATUS = _change(
    "network-status", "1.52", "GET /networks/{id}", "Status (IPAM usage per subnet)",
    _I, "IPsInUse (network, broadcast, gateway and endpoints) and DynamicIPsAvailable of "
    "the IP range, from 1.52, for networks with an address pool",
)  # fmt: skip
EMPTY_PORT_BINDINGS_WARNING = _change(
    "port-bindings-backfill", "1.52", "POST /containers/create",
    "warning for empty PortBindings lists (still backfilled)",
    _I, "an empty list still publishes a random port; dockerd's warning from 1.52",
)  # fmt: skip
IMAGE_INSPECT_OMIT_EMPTY = _change(
    "image-omit-empty", "1.52", "GET /images/{name}/json",
    "empty Parent, Comment, DockerVersion, Author and Config fields omitted",
    _I, "empty ones shown before 1.52, omitted from 1.52",
)  # fmt: skip
CONTAINER_ONBUILD_OMITTED = _change(
    "container-onbuild", "1.52", "GET /containers/{id}/json", "empty Config.OnBuild omitted",
    _I, "null before 1.52, omitted from 1.52",
)  # fmt: skip
NETWORK_SETTINGS_NO_LEGACY = _change(
    "network-settings-legacy", "1.52", "GET /containers/{id}/json",
    "deprecated top-level NetworkSettings fields removed",
    _I, "Bridge, HairpinMode, ... MacAddress sent before 1.52 only",
)  # fmt: skip
KERNEL_MEMORY_TCP_REMOVED = _change(
    "kernel-memory-tcp", "1.52", "POST /containers/{id}/update, GET /containers/{id}/json",
    "KernelMemoryTCP removed",
    _I, "dropped from create requests and from inspect's HostConfig from 1.52 "
    "(update never applied it)",
)  # fmt: skip
CONTAINER_MAC_REFUSED = _change(
    "container-mac", "1.52", "POST /containers/create", "Config.MacAddress refused",
    _I, "dockerd's 400 from 1.52",
)  # fmt: skip
STATS_OS_TYPE = _change(
    "stats-os-type", "1.52", "GET /containers/{id}/stats", "os_type",
    _I, "\"linux\" from 1.52",
)  # fmt: skip
DF_USAGE = _change(
    "df-usage", "1.52", "GET /system/df",
    "ImageUsage, ContainerUsage, VolumeUsage, BuildCacheUsage; `verbose`",
    _I, "the usage totals from 1.52, next to the legacy fields as dockerd still sends "
    "them; with verbose=1 the items move into the totals and the legacy fields go",
)  # fmt: skip
CONTAINER_LIST_HEALTH = _change(
    "list-health", "1.52", "GET /containers/json", "Health in the summary",
    _I, "{Status, FailingStreak} for containers with a healthcheck from 1.52",
)  # fmt: skip

# --- 1.53 -----------------------------------------------------------------------------

_change(
    "info-nri", "1.53", "GET /info", "NRI", _NA, "no NRI: omitted, as dockerd without it",
)  # fmt: skip
_change(
    "image-identity", "1.53", "GET /images/{name}/json", "Identity",
    _NA, "no trust data: omitted, as dockerd when there is none",
)  # fmt: skip

_change(
    "grpc-session", "1.53", "POST /grpc, POST /session", "deprecated",
    _NA, "not served by this layer",
)  # fmt: skip

# --- 1.54 -----------------------------------------------------------------------------

_change(
    "images-identity", "1.54", "GET /images/json", "`identity` parameter",
    _NA, "needs `manifests`, which a single-platform store does not fill",
)  # fmt: skip
_change(
    "connect-mac", "1.54", "POST /networks/{id}/connect", "MacAddress applied",
    _NA, "applied at every version, as dockerd 20.10 did (the regression was moby's)",
)  # fmt: skip

# --- 1.55 -----------------------------------------------------------------------------

_change(
    "image-attestations", "1.55", "GET /images/{name}/attestations", "new endpoint",
    _NA, "not served (404 page not found)",
)  # fmt: skip
UPDATE_BLKIO_DEVICES = _change(
    "update-blkio-devices", "1.55", "POST /containers/{id}/update",
    "BlkioWeightDevice and the Blkio throttle lists applied",
    _I, "ignored before 1.55; from 1.55 a list replaces the stored one ([] clears, null "
    "leaves it), a running container gets a non-empty one by Tasks.Update",
)  # fmt: skip


def markdown() -> str:
    """``docs/API_VERSIONS.md``."""
    counts = {h: sum(1 for c in CHANGES if c.handling is h) for h in Handling}
    lines = [
        "# Engine API versions",
        "",
        "<!-- Generated by `python -m wire.api_versions` from wire/api_versions.py;",
        "     edit that table, not this file (tests/unit/wire/test_api_versions.py). -->",
        "",
        f"moorage advertises API {CURRENT_API_VERSION} and accepts {MIN_API_VERSION} "
        f"to {CURRENT_API_VERSION}.",
        "Behaviour switches on the version in the request's path (`/v1.NN/...`); an",
        "unprefixed request is served at the newest version. Out of range: dockerd's 400.",
        "",
        "Every item of Docker's API version history from 1.42 on that touches an endpoint",
        "moorage serves (and the earlier switches moorage keeps, 1.40 and 1.41): "
        + ", ".join(f"{counts[h]} {h}" for h in Handling)
        + f" ({len(CHANGES)} in all).",
        "",
        "| version | endpoint | item | handling | what moorage does | key |",
        "|---|---|---|---|---|---|",
    ]
    for c in CHANGES:
        lines.append(
            f"| {c.version} | {c.endpoint} | {c.item} | {c.handling} | {c.moorage} | {c.key} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
