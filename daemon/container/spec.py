"""The glue between a container's Docker config and its OCI spec (built by `daemon.oci`).

At create the request is validated and merged with the image's config (what
inspect then shows), and the spec is built once the rootfs mounts are known, so
that user names resolve from the image's /etc/passwd without mounting anything.
At start the spec is built again (bind sources and etc files may have changed);
only a spec that differs costs a Containers.Update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from libcontainerd.types import Mount
from wire.container import ContainerCreateRequest
from wire.container_config import ContainerConfig
from wire.host_config import HostConfig

from .. import errors, oci
from ..logs.config import validate_log_config
from .model import Container

CGROUP_PARENT = "/moorage"


@contextmanager
def daemon_errors() -> Iterator[None]:
    """SpecError carries dockerd's status; the daemon speaks in its own error kinds."""
    try:
        yield
    except oci.SpecError as exc:
        kind: Callable[[str], errors.DaemonError] = {
            400: errors.InvalidParameter,
            404: errors.NotFound,
        }.get(exc.http_status, errors.SystemError)
        raise kind(str(exc)) from None


class ContainerSpecs:
    def __init__(self, cgroup_parent: str = CGROUP_PARENT) -> None:
        self.sysinfo = oci.probe_sysinfo()
        self.capabilities = oci.bounding_capabilities()
        self.cgroup_parent = cgroup_parent

    def prepare_create(
        self,
        container: Container,
        image_config: Mapping[str, Any],
        request: ContainerCreateRequest,
    ) -> list[str]:
        """Validate `request` and fill the container's Config, HostConfig, Path and Args
        (given as `request.parts()`); warnings."""
        body = {**container.config, "HostConfig": container.host_config}
        with daemon_errors():
            warnings = oci.validate_create(request, self.sysinfo, container.host_config)
            merged = oci.merge_config(body, image_config, container_id=container.id)
            host_config = oci.normalize_host_config(container.host_config, self.sysinfo)
        # Stored (and shown by inspect) in the wire shape: all fields, in dockerd's order.
        container.config = ContainerConfig.encode(merged.config)
        container.path, container.args = merged.path, merged.args
        host_config["Runtime"] = container.host_config.get("Runtime", "")
        # As dockerd, inspect names the driver even when the client left it to the daemon
        # (the docker SDK reads it to decide whether run() can return the output).
        log_config = host_config.get("LogConfig") or {}
        options = dict(log_config.get("Config") or {})
        driver = validate_log_config(log_config.get("Type") or "", options)
        host_config["LogConfig"] = {"Type": driver, "Config": options}
        container.host_config = HostConfig.encode(host_config)
        return warnings

    def _build(self, container: Container, mounts: Sequence[Mount]) -> dict[str, Any]:
        etc = oci.write_etc_files(str(container.dir), container.config, container.host_config)
        return oci.build_spec(
            container.id,
            container.config,
            container.host_config,
            cgroup_parent=self.cgroup_parent,
            etc_paths=etc,
            daemon_caps=self.capabilities,
            read_file=oci.reader_for_mounts(mounts) if mounts else None,
        )

    def factory(self, container: Container) -> Callable[[Sequence[Mount]], dict[str, Any]]:
        """The spec builder for create. A user that does not resolve is dockerd's start
        error, not a create error, so create then stores a spec without the user."""

        def build(mounts: Sequence[Mount]) -> dict[str, Any]:
            with daemon_errors():
                try:
                    return self._build(container, mounts)
                except oci.StartError:
                    config = dict(container.config, User="")
                    shadow = Container(**{**container.__dict__, "config": config})
                    return self._build(shadow, mounts)

        return build

    def for_start(self, container: Container, mounts: Sequence[Mount]) -> dict[str, Any]:
        with daemon_errors():
            oci.create_missing_bind_sources(container.host_config)
            return self._build(container, mounts)
