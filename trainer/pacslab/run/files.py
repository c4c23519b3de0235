"""The run directory (docs/run-format.md): run.json, events, rollout files, checkpoints.

Every file another process reads is written so that a reader never sees half of it: whole files
go to a temporary name, are fsynced and renamed; events.jsonl is append-only, one line per event,
flushed after each; checkpoints are built in a temporary folder and renamed, and `latest` is
updated only after the rename.

A run folder is untrusted data (it may come from a cloned repository): no file or folder inside it
is opened through a symbolic link, and only regular files are read or appended to
(`UnsafeRunPath` otherwise).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import re
import secrets
import shutil
import socket
import stat
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pacslab.run import safe_json

# 2: evaluations are `eval` events (format 1 wrote them as `metrics` events of eval/* values only),
# and the `queued` status of a submitted batch job; 3: rollout files are Parquet (pacslab.run.records)
FORMAT_VERSION = 3
LIVE_STATUSES = ("starting", "running", "paused")
RUN_JSON = "run.json"
EVENTS = "events.jsonl"
CONTROL = "control.jsonl"
CONFIG = "config.yaml"
TRAINER_STATE = "trainer_state.pt"
LOCK = "trainer.lock"
# what only a trainer writes: a folder holding one of these holds a run (a launcher's holds none)
RUN_CONTENT = (CONFIG, EVENTS, "checkpoints", "rollouts")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def new_run_id(name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


def create_run_dir(runs_root: Path, name: str) -> Path:
    """A fresh `<runs_root>/<id>/`; writes `.pacs/.gitignore` when the root lives in `.pacs/`."""
    runs_root.mkdir(parents=True, exist_ok=True)
    pacs_dir = next((p for p in (runs_root, *runs_root.parents) if p.name == ".pacs"), None)
    if pacs_dir is not None and not (pacs_dir / ".gitignore").exists():
        (pacs_dir / ".gitignore").write_text("*\n")
    while True:
        run_dir = runs_root / new_run_id(name)
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


def step_name(step: int) -> str:
    return f"step-{step:06d}"


# ---------------------------------------------------------------- files that are never links


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


def read_run_json(run_dir: Path) -> tuple[dict | None, str | None]:
    """(run.json, None), or (None, why it cannot be read: the file and the field named); (None, None) when absent."""
    path = Path(run_dir) / RUN_JSON
    try:
        data = safe_json.loads(read_run_file(path, max_bytes=safe_json.MAX_INFO_BYTES))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path}: {exc}"
    problem = safe_json.run_json_problem(data)
    return (None, f"{path} {problem}") if problem else (data, None)


def write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False, default=str) + "\n")


# ---------------------------------------------------------------- run.json


class RunInfo:
    """run.json, owned by this trainer process; fields written by the launcher are kept. Safe to
    update from the heartbeat thread and the loop at once."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / RUN_JSON
        self.data: dict[str, Any] = read_json(self.path) or {}
        self._lock = threading.Lock()

    def update(self, **fields: Any) -> None:
        with self._lock:
            # re-read first: the launcher or the extension may have added fields since
            on_disk = read_json(self.path) or {}
            self.data = {**on_disk, **self.data, **fields, "updated_at": utc_now()}
            write_json_atomic(self.path, self.data)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def pid_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]


def process_alive(pid: int | None, start_time: str | None) -> bool:
    """Whether `pid` is the same process that wrote run.json (not a later one with its pid)."""
    if not pid:
        return False
    if Path("/proc").is_dir():
        now = pid_start_time(pid)
        return now is not None and (start_time is None or now == start_time)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detect_crash(run_dir: Path) -> dict | None:
    """Reads run.json; a live status whose process is gone becomes `crashed` (written back).
    None when absent; a run.json that cannot be read is `{"status": "unreadable", "error": ...}`."""
    path = Path(run_dir) / RUN_JSON
    info, problem = read_run_json(run_dir)
    if problem:
        return {"id": Path(run_dir).name, "status": "unreadable", "error": {"message": problem}}
    if info is None:
        return None
    if info.get("status") in LIVE_STATUSES and info.get("pid") and info.get("host") in (None, socket.gethostname()):
        if not process_alive(info.get("pid"), info.get("pid_start_time")):
            info["status"] = "crashed"
            info["updated_at"] = utc_now()
            write_json_atomic(path, info)
    return info


def versions(device: str) -> dict:
    import torch
    import transformers

    from pacslab import __version__

    return {
        "pacslab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "device": device,
    }


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


def holds_run(run_dir: Path) -> list[str]:
    """The files in `run_dir` that only a trainer writes (empty for a new or launcher-made folder)."""
    return [name for name in RUN_CONTENT if os.path.lexists(Path(run_dir) / name)]


def has_trained(run_dir: Path) -> bool:
    """Whether a trainer has trained in `run_dir` (a checkpoint or rollouts), not only prepared it."""
    return any(name in ("checkpoints", "rollouts") for name in holds_run(run_dir))


_WRITER_PID = re.compile(r"\.(?:tmp|old)-(\d+)")


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary name is another live one (a `status` mid-write)."""
    found = _WRITER_PID.search(name)
    pid = int(found.group(1)) if found else 0
    return pid != os.getpid() and process_alive(pid, None)


def remove_stale_temps(run_dir: Path) -> list[str]:
    """Removes what a killed writer left half done: checkpoint folders `.step-N.tmp-PID` and
    `.step-N.old-PID`, and temporary files `.NAME.tmp-PID-RANDOM`, unless PID is alive. Call it
    holding the run's lock (no other trainer is then alive). Returns the removed paths, relative to
    `run_dir`."""
    run_dir = Path(run_dir)
    removed = []
    candidates = [*run_dir.glob(f".*{TMP_MARK}*")]
    for sub in ("checkpoints", "rollouts"):
        if is_real_dir(run_dir / sub):
            candidates += (run_dir / sub).glob(f".*{TMP_MARK}*")
    if is_real_dir(run_dir / "checkpoints"):
        candidates += (run_dir / "checkpoints").glob(".step-*.old-*")
    for path in candidates:
        if _writer_alive(path.name):
            continue
        if is_real_dir(path):
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(run_dir)))
    return removed


# ---------------------------------------------------------------- events


class EventLog:
    """events.jsonl: append-only, one JSON object per line, flushed after every event."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / EVENTS
        _repair_torn_tail(self.path)
        self._f = append_run_file(self.path)

    def emit(self, type: str, step: int | None = None, **fields: Any) -> dict:
        event = {"t": time.time(), "type": type}
        if step is not None:
            event["step"] = step
        event.update(fields)
        self._f.write(json.dumps(event, allow_nan=False, default=str) + "\n")
        self._f.flush()
        return event

    def close(self) -> None:
        if not self._f.closed:
            os.fsync(self._f.fileno())
            self._f.close()


def _repair_torn_tail(path: Path) -> None:
    """A crash can leave a last line without its newline; cut it so appends start clean."""
    try:
        fd = open_run_file(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:  # from the end backwards, a chunk at a time: a torn line of any length is never read whole
        end = os.fstat(fd).st_size
        position = end
        while position > 0:
            start = max(0, position - safe_json.CHUNK_BYTES)
            chunk = os.pread(fd, position - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            position = start
        else:
            cut = 0
        if cut < end:
            os.ftruncate(fd, cut)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> tuple[list[dict], int]:
    """(objects, bad line count). An unfinished last line is left for later, not counted bad; lines
    over safe_json's caps (length, depth, non-finite numbers) are bad."""
    try:
        fd = open_run_file(Path(path), os.O_RDONLY)
    except FileNotFoundError:
        return [], 0
    out, bad = [], 0
    try:
        for _, obj, problem in safe_json.iter_json_lines(fd, safe_json.BoundedLines()):
            if problem is None and isinstance(obj, dict):
                out.append(obj)
            else:
                bad += 1
    finally:
        os.close(fd)
    return out, bad


# ---------------------------------------------------------------- rollouts


def write_rollouts(run_dir: Path, step: int, records: list[dict], *, jsonl: bool = False) -> str:
    """The step's rollout file (Parquet; JSONL with `jsonl`), through pacslab.run.records, the one writer."""
    from pacslab.run import records as rollout_records

    return rollout_records.write_step(run_dir, step, records, jsonl=jsonl)


# ---------------------------------------------------------------- checkpoints


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def write_checkpoint(run_dir: Path, step: int, save: Any) -> str:
    """Calls `save(tmp_dir)`, then renames tmp_dir to checkpoints/step-NNNNNN and updates `latest`.

    Writing the same step twice replaces the older copy only once the new one is complete.
    """
    root = run_subdir(run_dir, "checkpoints")
    final = root / step_name(step)
    tmp = root / f".{step_name(step)}{TMP_MARK}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save(tmp)
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        old = root / f".{step_name(step)}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    write_atomic(root / "latest", step_name(step) + "\n")
    return f"checkpoints/{step_name(step)}"


_STEP_NAME = re.compile(r"step-\d{6,}")


def _complete(folder: Path, marker: str = TRAINER_STATE) -> bool:
    """A checkpoint folder of this run: named step-N, a real folder, its `marker` a regular file."""
    return bool(_STEP_NAME.fullmatch(folder.name)) and is_real_dir(folder) and is_regular_file(folder / marker)


def latest_checkpoint(run_dir: Path) -> Path | None:
    root = checkpoints_dir(run_dir)
    if not is_real_dir(root):
        return None
    try:
        name = read_run_file(root / "latest").decode("utf-8", "replace").strip()
    except OSError:
        name = ""
    # `latest` names a folder beside it (step-N), never a path: `../../other/checkpoints/step-N` is not followed
    if _STEP_NAME.fullmatch(name) and _complete(root / name):
        return root / name
    # `latest` missing or pointing at a removed folder: fall back to the newest complete one
    complete = sorted(p for p in root.glob("step-*") if _complete(p))
    return complete[-1] if complete else None


def prune_checkpoints(run_dir: Path, keep: int) -> list[str]:
    """Removes all but the newest `keep` checkpoints, never the one `latest` names; returns the removed names."""
    root = checkpoints_dir(run_dir)
    if not is_real_dir(root):
        return []
    try:
        latest = read_run_file(root / "latest").decode("utf-8", "replace").strip()
    except OSError:
        latest = ""
    folders = sorted(p for p in root.glob("step-*") if _STEP_NAME.fullmatch(p.name) and is_real_dir(p))
    removed = [p for p in folders[: max(0, len(folders) - keep)] if p.name != latest]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in removed]


def checkpoint_for_step(run_dir: Path, step: int) -> Path | None:
    root = checkpoints_dir(run_dir)
    path = root / step_name(step)
    # a whole model (config.json), or the LoRA adapter of a model.lora run (adapter_config.json)
    return path if is_real_dir(root) and (_complete(path, "config.json") or _complete(path, "adapter_config.json")) else None


# ---------------------------------------------------------------- listing runs


def list_runs(runs_root: Path) -> list[dict]:
    """run.json of every run under `runs_root`, newest first, with crashes detected."""
    runs = []
    root = Path(runs_root)
    if not root.is_dir():
        return runs
    for run_dir in sorted(root.iterdir(), reverse=True):
        if not is_real_dir(run_dir):  # a link could point at another folder's run.json
            continue
        info = detect_crash(run_dir)
        if info is not None:
            runs.append({**info, "dir": str(run_dir)})
    return runs
