import os

# grpcio's fork handlers (off by default) are not made for its asyncio stack, and the
# daemon forks to spawn processes while calls are in flight: keep them off whatever the
# environment says. Set here, before any module of the package can load grpc.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "0"
