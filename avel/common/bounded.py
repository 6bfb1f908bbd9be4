"""A dictionary with a size cap and a time to live, for state a long-running server keeps per key.

The app keeps per-session state and rendered results in these, so a server that runs for days
holds at most `max_entries` of each, and nothing older than `ttl_s`, whatever its traffic.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class BoundedStore(Generic[Value]):
    """Least-recently-used entries beyond `max_entries`, and entries idle for `ttl_s`, are dropped.

    `on_evict(key, value)` runs for every entry dropped (by cap, TTL or `pop`), e.g. to delete the
    files an entry names. Thread-safe: Gradio runs handlers in worker threads.
    """

    def __init__(
        self,
        max_entries: int,
        ttl_s: float,
        on_evict: Callable[[str, Value], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError(f"BoundedStore: max_entries >= 1 and ttl_s > 0, got {max_entries}, {ttl_s}")
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self._on_evict = on_evict or (lambda key, value: None)
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Value]] = OrderedDict()  # key -> (last use, value)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: str) -> Value | None:
        """The value (now most recently used), or None when absent or expired."""
        with self._lock:
            dropped = self._expire()
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._entries[key] = (self._clock(), entry[1])
        self._evicted(dropped)
        return None if entry is None else entry[1]

    def put(self, key: str, value: Value) -> None:
        with self._lock:
            dropped = self._expire()
            old = self._entries.pop(key, None)
            if old is not None and old[1] is not value:
                dropped.append((key, old[1]))
            self._entries[key] = (self._clock(), value)
            while len(self._entries) > self.max_entries:
                oldest, (_, evicted) = self._entries.popitem(last=False)
                dropped.append((oldest, evicted))
        self._evicted(dropped)

    def pop(self, key: str) -> None:
        """Drop `key` now (a session that ended)."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            self._evicted([(key, entry[1])])

    def clear(self) -> None:
        with self._lock:
            dropped = [(key, value) for key, (_, value) in self._entries.items()]
            self._entries.clear()
        self._evicted(dropped)

    def _expire(self) -> list[tuple[str, Value]]:
        """Entries idle longer than the TTL (the lock is held); oldest first."""
        limit = self._clock() - self.ttl_s
        dropped = []
        while self._entries:
            key, (used, value) = next(iter(self._entries.items()))
            if used > limit:
                break
            del self._entries[key]
            dropped.append((key, value))
        return dropped

    def _evicted(self, dropped: list[tuple[str, Value]]) -> None:
        for key, value in dropped:  # outside the lock: a callback may be slow (file deletion)
            self._on_evict(key, value)
