"""Writing files so that a reader never sees half of one (interrupted runs resume from what exists)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write to, renamed onto `path` only when the block ends
    without an exception; removed otherwise. It keeps `path`'s suffix (PyAV and h5py read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid: a killed writer's leftovers are recognised (remove_stale_temporaries); thread: the app's
    # handlers may write the same cache entry at once
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# atomic_path's .STEM.PID.THREAD.tmpSUFFIX, and .STEM.PID.tmpSUFFIX as earlier versions named it
_TEMPORARY = re.compile(r"^\..+?\.(\d+)(\.\d+)?\.tmp(\.[^.]*)?$")


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete atomic_path temporaries in `folder` whose writer is dead (a killed run's `.x.PID.tmp.h5`).

    A temporary of a live process (another run writing now) is left alone. Returns what was removed.
    """
    removed = []
    for entry in Path(folder).glob(".*.tmp*") if Path(folder).is_dir() else []:
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_file() and not pid_alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through atomic_path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (0 when it does not exist)."""
    return (
        sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else 0
    )


def evict_oldest(folder: Path, max_bytes: int, keep: Path | None = None, pattern: str = "*") -> int:
    """Delete the least recently modified entries of `folder` until it holds at most `max_bytes`.

    An entry is a file or a whole sub-folder (one cached item); `keep` (just written) is never
    deleted, so a single item over the cap survives alone. Returns the bytes freed. Used for the
    app's caches, whose freshness is refreshed by touching an entry when it is read.
    """
    entries = []
    for entry in Path(folder).glob(pattern):
        size = entry.stat().st_size if entry.is_file() else folder_bytes(entry)
        entries.append((entry.stat().st_mtime, entry, size))
    total, freed = sum(size for _, _, size in entries), 0
    for _, entry, size in sorted(entries, key=lambda item: item[0]):
        if total - freed <= max_bytes:
            break
        if keep is not None and entry == keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        freed += size
    return freed
