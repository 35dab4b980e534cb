"""Results computed from files, kept while those files are unchanged.

A grid's tables score the same stored predictions many times (every view of a training re-validates the same epochs,
re-scores the same tier at the same threshold, re-reads the same profiles). Each result is kept under its inputs and
the version (path, mtime, size) of every file it read, so a rewritten file is read again, never served stale; callers
get a deep copy to change freely.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable, Hashable


def version(*paths: str | os.PathLike) -> tuple:
    """(resolved path, mtime_ns, size) of each existing file: what a result read, as a cache key."""
    out = []
    for path in paths:
        path = Path(path).resolve()
        if path.is_file():
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        else:
            out.append((str(path), None, None))
    return tuple(out)


class FileMemo:
    """memo(key, compute): compute() once per key (build the key with `version` of the files compute reads)."""

    def __init__(self, max_entries: int = 4096):
        self.max_entries, self.entries = max_entries, {}

    def __call__(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key not in self.entries:
            if len(self.entries) >= self.max_entries:
                self.entries.clear()
            self.entries[key] = compute()
        return copy.deepcopy(self.entries[key])
