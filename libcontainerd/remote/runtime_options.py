"""How a `RuntimeSpec` travels to containerd: shim name plus a shim-specific options message."""

from __future__ import annotations

from ..types import RuntimeSpec
from . import anycodec
from .gen.containerd.linux.runc import RuncOptions
from .gen.containerd.runc.v1 import Options as RuncV2Options
from .gen.google.protobuf import Any

SHIM_V1 = "io.containerd.runtime.v1.linux"


def container_options(runtime: RuntimeSpec) -> Any:
    """The options stored on the container record, read by the shim when it starts."""
    if runtime.shim == SHIM_V1:
        return anycodec.pack(RuncOptions(runtime=runtime.binary, runtime_root=runtime.root))
    return anycodec.pack(RuncV2Options(binary_name=runtime.binary, root=runtime.root))


def task_options(runtime: RuntimeSpec) -> Any | None:
    """Per-task options; the v1 shim expects a different message here, so it gets none."""
    if runtime.shim == SHIM_V1:
        return None
    return container_options(runtime)


def runtime_from_record(shim: str, options: Any | None) -> RuntimeSpec:
    decoded = anycodec.unpack(options)
    if isinstance(decoded, RuncOptions):
        return RuntimeSpec(shim, decoded.runtime, decoded.runtime_root)
    if isinstance(decoded, RuncV2Options):
        return RuntimeSpec(shim, decoded.binary_name, decoded.root)
    return RuntimeSpec(shim)
