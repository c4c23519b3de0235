"""Files inside a run folder, opened safely and written whole.

A run folder is untrusted data (it may come from a cloned repository): no file or folder inside it
is opened through a symbolic link, and only regular files are read or appended to
(`UnsafeRunPath` otherwise). Every whole file another process reads is written to a temporary
name, fsynced and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from pathlib import Path

from pacslab.run import safe_json


class UnsafeRunPath(OSError):
    """A path inside a run folder that is a symbolic link, or not a regular file (or folder)."""


_NO_LINKS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO cannot block the open


def open_run_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` of a regular file that is not a link; raises UnsafeRunPath for anything else."""
    try:
        fd = os.open(path, flags | _NO_LINKS, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeRunPath(f"{path} is a symbolic link; a run folder holds only regular files: remove the link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeRunPath(f"{path} is not a regular file; remove it from the run folder")
    return fd


def read_run_file(path: Path, offset: int = 0, max_bytes: int | None = None) -> bytes:
    """The bytes of a regular run file from `offset` on (FileNotFoundError when absent;
    UnsafeJson when it holds more than `max_bytes`)."""
    fd = open_run_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if max_bytes is not None and size > max_bytes:
            raise safe_json.UnsafeJson(f"{path} holds {size} bytes, more than the {max_bytes} a reader takes of it (a run folder is untrusted data)")
        f.seek(offset)
        return f.read()


def append_run_file(path: Path):
    """A text file object appending to a regular run file (created when absent)."""
    return os.fdopen(open_run_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8")


def run_subdir(run_dir: Path, name: str, *, create: bool = True) -> Path:
    """`run_dir/name`, a real folder (made when absent and `create`), never a link to elsewhere."""
    path = Path(run_dir) / name
    if create:
        try:
            path.mkdir()
        except FileExistsError:
            pass
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
        raise UnsafeRunPath(f"{path} is {'a symbolic link' if stat.S_ISLNK(mode) else 'not a folder'}; "
                            "a run folder holds only real folders: remove it")
    return path


def is_regular_file(path: Path) -> bool:
    """Whether `path` is a regular file itself (a link to one is not)."""
    try:
        return stat.S_ISREG(Path(path).lstat().st_mode)
    except OSError:
        return False


def is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(Path(path).lstat().st_mode)
    except OSError:
        return False


# ---------------------------------------------------------------- atomic files

TMP_MARK = ".tmp-"


def write_atomic(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Writes through a temporary name and a rename, so readers see the old or the new file, never a
    part. `durable` also fsyncs before the rename (a power cut keeps it), as run-format.md asks of
    run.json; the per-step rollout files skip it, which saves a millisecond or more a step on a slow disk.

    The temporary name is new for every write (`.NAME.tmp-PID-RANDOM`, created exclusively, never
    through a link), so two writers never write into, or rename, each other's file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with os.fdopen(open_run_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, max_bytes: int = safe_json.MAX_INFO_BYTES) -> dict | None:
    """A JSON object from a regular file; None when it is absent, a link, not a file, not JSON, or
    over the caps of safe_json (size, depth, non-finite numbers)."""
    try:
        data = safe_json.loads(read_run_file(path, max_bytes=max_bytes))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False, default=str) + "\n")
