"""The compose tests run against a mooraged in a private network namespace: compose
projects make bridges, veths and port rules, which never go in the machine's namespace."""

from tests.integration.network.conftest import ns_daemon

__all__ = ["ns_daemon"]
