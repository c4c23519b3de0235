"""The run directory (docs/run-format.md): its layout, run.json, events.jsonl, what a folder holds,
and the runs under a root.

events.jsonl is append-only, one line per event, flushed after each; run.json is written whole
(safe_files.write_atomic). The rest of the run-folder contract is one module each, and this module
is the one namespace (`runio`) every engine, importer and command reaches them through:
`safe_files` (no link followed, atomic writes), `checkpoints` (step-N folders and `latest`) and
`lock` (the writer process and the one-writer lock).
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pacslab.run import safe_json
from pacslab.run.checkpoints import (  # noqa: F401 - re-exported: runio.* is the run folder's namespace
    TRAINER_STATE,
    checkpoint_for_step,
    checkpoints_dir,
    latest_checkpoint,
    prune_checkpoints,
    step_name,
    write_checkpoint,
)
from pacslab.run.lock import LOCK, RunInUse, RunLock, pid_start_time, process_alive, process_fields  # noqa: F401
from pacslab.run.safe_files import (  # noqa: F401
    TMP_MARK,
    UnsafeRunPath,
    append_run_file,
    is_real_dir,
    is_regular_file,
    open_run_file,
    read_json,
    read_run_file,
    run_subdir,
    write_atomic,
    write_json_atomic,
)

# 2: evaluations are `eval` events (format 1 wrote them as `metrics` events of eval/* values only),
# and the `queued` status of a submitted batch job; 3: rollout files are Parquet (pacslab.run.records)
FORMAT_VERSION = 3
LIVE_STATUSES = ("starting", "running", "paused")
RUN_JSON = "run.json"
EVENTS = "events.jsonl"
CONTROL = "control.jsonl"
CONFIG = "config.yaml"
TRAINER_LOG = "trainer.log"  # the trainer's output when the extension, a sweep or a Slurm job launched it
# what only a trainer writes: a folder holding one of these holds a run (a launcher's holds none)
RUN_CONTENT = (CONFIG, EVENTS, "checkpoints", "rollouts")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def new_run_id(name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


def is_run_id_of(run_id: str, name: str) -> bool:
    """Whether `run_id` is exactly what new_run_id(name) makes: `<YYYYmmdd-HHMMSS>-<name>-<4 hex>`
    (so `x-grid-t0-s0`'s folders are never taken for `grid-t0-s0`'s)."""
    return re.fullmatch(rf"\d{{8}}-\d{{6}}-{re.escape(name)}-[0-9a-f]{{4}}", run_id) is not None


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


# ---------------------------------------------------------------- run.json


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


# ---------------------------------------------------------------- what a folder holds


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
