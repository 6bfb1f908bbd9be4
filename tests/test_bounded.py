"""The app's bounded state: an LRU + TTL store and size-capped cache folders."""

from __future__ import annotations

import os
from pathlib import Path

from avel.common.bounded import BoundedStore
from avel.common.files import evict_oldest, folder_bytes


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_store_drops_least_recently_used_and_idle_entries() -> None:
    clock, evicted = Clock(), []
    store: BoundedStore[int] = BoundedStore(2, ttl_s=10, on_evict=lambda k, v: evicted.append(k), clock=clock)
    store.put("a", 1)
    store.put("b", 2)
    assert store.get("a") == 1  # a is now the most recently used
    store.put("c", 3)
    assert evicted == ["b"] and store.get("b") is None and len(store) == 2
    clock.now = 5
    store.get("c")
    clock.now = 12  # a idle for 12 s, c for 7 s
    assert store.get("a") is None and store.get("c") == 3 and evicted == ["b", "a"]
    store.pop("c")
    assert evicted == ["b", "a", "c"] and len(store) == 0


def test_evict_oldest_keeps_the_folder_under_its_cap(tmp_path: Path) -> None:
    for index in range(6):
        entry = tmp_path / f"entry{index}"
        entry.mkdir()
        (entry / "data.bin").write_bytes(bytes(1000))
        os.utime(entry, (index, index))  # entry0 is the oldest
    newest = tmp_path / "entry5"
    freed = evict_oldest(tmp_path, 2500, keep=newest)
    assert freed == 4000 and folder_bytes(tmp_path) == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry4", "entry5"]
    assert evict_oldest(tmp_path, 0, keep=newest) == 1000  # the kept entry survives even over the cap
    assert [p.name for p in tmp_path.iterdir()] == ["entry5"]
