import os

# grpcio's fork handlers (off by default) are not made for its asyncio stack, and the
# daemon forks to spawn processes while calls are in flight: keep them off whatever the
# environment says. Set here, before any module of the package can load grpc.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "0"

# grpcio's C-core serves a client connection with its EventEngine by default: a poller
# thread hands each read to a pool thread, which completes the call for grpc.aio's poller
# thread, which wakes the loop: ~5 thread switches per call, 137 and ~2.5 ms of CPU per
# container lifecycle in threads besides the loop's (issue 13). With the experiment
# `event_engine_client` off, the C-core's own iomgr serves it, polled by grpc.aio's poller
# thread itself: reads and completions happen there, with no hand-off (docs/DESIGN.md,
# "The containerd client stack"). Read when the process makes its first channel; an
# environment that chose its own experiments keeps them.
os.environ.setdefault("GRPC_EXPERIMENTS", "-event_engine_client")
