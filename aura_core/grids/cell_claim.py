"""Who is training a grid cell, so that two `aura grid` processes (two terminals, a requeued array task, overlapping
shards) never train the same cell at once.

A claim is an exclusive `flock` on <cell>/.claim.lock plus <cell>/claim.json saying who holds it (host, pid, start).
The kernel drops a flock when the last process holding it exits, however it exits (SIGKILL, node reboot of a local
disk): a claim.json whose lock is free belongs to a process that is gone, and is taken over (and said so). The lock's
file descriptor is handed to the `aura run` child that trains the cell, so the claim lives exactly as long as the
training does, even when the grid process that started it is killed first.

flock is advisory and per host on most network file systems only when they support it (NFSv4 and Lustre do; some
NFSv3 setups do not): on such a cluster give each array task its own shard (`--shard`) as well.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from aura_core.base.io import read_json, write_json
from aura_core.base.run_folder import RunFolder


@dataclass
class Claim:
    cell_dir: Path
    fd: int                    # the locked file descriptor (pass it to the process that trains)
    took_over: dict | None     # the earlier claim.json, whose process was gone

    def release(self) -> None:
        RunFolder(self.cell_dir).claim.unlink(missing_ok=True)
        os.close(self.fd)  # closing our descriptor; a child still holding its copy keeps the lock until it exits


def holder(cell_dir: Path) -> dict | None:
    """What claim.json says (who claimed the cell last), or None."""
    path = RunFolder(cell_dir).claim
    try:
        return read_json(path)
    except (FileNotFoundError, ValueError):
        return None


def describe(h: dict | None) -> str:
    if not h:
        return "an unknown process"
    return f"{h.get('host', '?')} pid {h.get('pid', '?')} since {h.get('started', '?')}"


def try_claim(cell_dir: str | Path) -> Claim | None:
    """The cell's claim, or None when a live process holds it (`holder` says who)."""
    cell_dir = Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(RunFolder(cell_dir).lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    previous = holder(cell_dir)
    write_json(RunFolder(cell_dir).claim, {"host": socket.gethostname(), "pid": os.getpid(),
                                       "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    return Claim(cell_dir, fd, previous)


def is_held(cell_dir: str | Path) -> bool:
    """True while a live process holds the cell's claim (tested by trying the lock without keeping it)."""
    path = RunFolder(cell_dir).lock
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the test lock, if we got it
    return False
