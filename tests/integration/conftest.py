"""Fixtures of the tests that run production processes (see tests/processes.py)."""

from tests.processes import redis_server, stack

__all__ = ["redis_server", "stack"]
