"""Who writes a run: the process that holds it (pid, its start time, host), whether that process
is still alive, and the one-writer lock on `trainer.lock`."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from pacslab.run.safe_files import open_run_file

LOCK = "trainer.lock"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None off Linux or when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields if len(fields) > 19 else None


def pid_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or None off Linux."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int | None, start_time: str | None) -> bool:
    """Whether `pid` is the same process that wrote run.json (not a later one with its pid), and not
    a killed process its parent has not reaped yet (a zombie: it runs nothing)."""
    if not pid:
        return False
    if Path("/proc").is_dir():
        fields = _proc_stat(pid)
        return fields is not None and fields[0] != "Z" and (start_time is None or fields[19] == start_time)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_fields() -> dict:
    pid = os.getpid()
    return {"pid": pid, "pid_start_time": pid_start_time(pid), "host": socket.gethostname()}


# ---------------------------------------------------------------- one writer per run


class RunInUse(Exception):
    """Another live process holds the run's lock."""


class RunLock:
    """An exclusive `flock` on `run_dir/trainer.lock`, held until `release()` or the process ends
    (the kernel drops it with the process, so a killed trainer never leaves a stale lock). The file
    names the holder (pid, host) for the message a second writer gets."""

    def __init__(self, run_dir: Path | str):
        path = Path(run_dir) / LOCK
        self._fd = open_run_file(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(self._fd)
            os.close(self._fd)
            raise RunInUse(f"run is in use by pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                           f"({Path(run_dir)}); wait for it to end, or stop it first") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(process_fields()).encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_holder(fd: int) -> dict:
    """The holder's {pid, host}; it writes them right after locking, so wait a moment for them."""
    for _ in range(20):
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"null")
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        time.sleep(0.05)
    return {}
