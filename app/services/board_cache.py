"""What a web process keeps of each workspace's board between requests.

Entries are keyed by the workspace's board version (bumped by the database in the transaction of
every change that can alter the board, migration 0015) and expire at a moment the caller names:
when the board next changes by itself (a hand-off passing). A reader checks the version in the
same query as its login, before it reads anything else, so an entry is never older than what the
database held when the request began; a board built from newer rows under an older version only
makes the next reader build again.
"""

from __future__ import annotations

import datetime
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ProcessCache(Generic[T]):
    """A small least-recently-used map of one entry per key (a workspace, a viewer), each remembering
    the board version it was built under and expiring at its own moment: a newer version replaces
    the entry, so a workspace edited often holds one entry, not one per edit."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[int, datetime.datetime, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: int, now: datetime.datetime) -> T | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            kept_version, until, value = found
            if kept_version != version or now >= until:
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, version: int, value: T, until: datetime.datetime) -> None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] > version:
                return  # a request that read an older version finished last: keep the newer entry
            self._entries[key] = (version, until, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
