"""What dockerd 20.10 sends, for tests that compare moorage's replies with it."""

from __future__ import annotations

# The top-level keys of a stats sample (GET /containers/{id}/stats), in dockerd's order.
STATS_KEYS = (
    "read",
    "preread",
    "pids_stats",
    "blkio_stats",
    "num_procs",
    "storage_stats",
    "cpu_stats",
    "precpu_stats",
    "memory_stats",
    "name",
    "id",
)

# docker inspect of a container, as dockerd 20.10 writes it (captured from
# /usr/sbin/dockerd 20.10.24 on containerd, for `{"Image": "busybox", "Cmd": ["true"]}`
# and, where named, a body with more set).
INSPECT_KEYS = (
    "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
    "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
    "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts",
    "Config", "NetworkSettings",
)  # fmt: skip
STATE_KEYS = (
    "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode",
    "Error", "StartedAt", "FinishedAt",
)  # fmt: skip
# With the runtime named (dockerd names it at start; moorage already at create).
HOST_CONFIG_KEYS = (
    "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy",
    "AutoRemove", "VolumeDriver", "VolumesFrom", "CapAdd", "CapDrop", "CgroupnsMode", "Dns",
    "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links",
    "OomScoreAdj", "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt",
    "UTSMode", "UsernsMode", "ShmSize", "Runtime", "ConsoleSize", "Isolation", "CpuShares",
    "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
    "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus",
    "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory",
    "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable",
    "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth",
    "MaskedPaths", "ReadonlyPaths",
)  # fmt: skip
CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
    "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
    "OnBuild", "Labels",
)  # fmt: skip
# Config of a body with ExposedPorts, Healthcheck, StopSignal and StopTimeout set.
CONFIG_KEYS_ALL_SET = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "Image",
    "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal", "StopTimeout",
)  # fmt: skip
NETWORK_SETTINGS_KEYS = (
    "Bridge", "SandboxID", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
    "Ports", "SandboxKey", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID",
    "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
    "IPv6Gateway", "MacAddress", "Networks",
)  # fmt: skip
# An entry of GET /containers/json (?size=1 adds SizeRw and SizeRootFs after Ports).
SUMMARY_KEYS = (
    "Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels", "State",
    "Status", "HostConfig", "NetworkSettings", "Mounts",
)  # fmt: skip
