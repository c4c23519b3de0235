"""The run directory (docs/run-format.md): run.json, events, rollout files, checkpoints.

Every file another process reads is written so that a reader never sees half of it: whole files
go to a temporary name, are fsynced and renamed; events.jsonl is append-only, one line per event,
flushed after each; checkpoints are built in a temporary folder and renamed, and `latest` is
updated only after the rename.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

# 2: evaluations are `eval` events (format 1 wrote them as `metrics` events of eval/* values only),
# and the `queued` status of a submitted batch job
FORMAT_VERSION = 2
LIVE_STATUSES = ("starting", "running", "paused")
RUN_JSON = "run.json"
EVENTS = "events.jsonl"
CONTROL = "control.jsonl"
CONFIG = "config.yaml"
TRAINER_STATE = "trainer_state.pt"


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


# ---------------------------------------------------------------- atomic files


def write_atomic(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Writes through a temporary name and a rename, so readers see the old or the new file, never a
    part. `durable` also fsyncs before the rename (a power cut keeps it), as run-format.md asks of
    run.json; the per-step rollout files skip it, which saves a millisecond or more a step on a slow disk."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
    """Reads run.json; a live status whose process is gone becomes `crashed` (written back)."""
    path = Path(run_dir) / RUN_JSON
    info = read_json(path)
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


# ---------------------------------------------------------------- events


class EventLog:
    """events.jsonl: append-only, one JSON object per line, flushed after every event."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / EVENTS
        _repair_torn_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")

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
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def read_jsonl(path: Path) -> tuple[list[dict], int]:
    """(objects, bad line count). An unfinished last line is left for later, not counted bad."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    complete = data[: data.rfind(b"\n") + 1]
    out, bad = [], 0
    for line in complete.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(obj, dict):
            out.append(obj)
        else:
            bad += 1
    return out, bad


def iter_metrics(run_dir: Path) -> Iterator[tuple[int, dict]]:
    """(step, values) of every training step and evaluation, in file order."""
    events, _ = read_jsonl(Path(run_dir) / EVENTS)
    for e in events:
        if e.get("type") in ("metrics", "eval"):
            yield e.get("step"), e.get("values", {})


# ---------------------------------------------------------------- rollouts


def write_rollouts(run_dir: Path, step: int, records: list[dict]) -> str:
    folder = Path(run_dir) / "rollouts"
    folder.mkdir(exist_ok=True)
    rel = f"rollouts/{step_name(step)}.jsonl"
    body = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
    write_atomic(Path(run_dir) / rel, body, durable=False)
    return rel


# ---------------------------------------------------------------- checkpoints


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def write_checkpoint(run_dir: Path, step: int, save: Any) -> str:
    """Calls `save(tmp_dir)`, then renames tmp_dir to checkpoints/step-NNNNNN and updates `latest`.

    Writing the same step twice replaces the older copy only once the new one is complete.
    """
    root = checkpoints_dir(run_dir)
    root.mkdir(exist_ok=True)
    final = root / step_name(step)
    tmp = root / f".{step_name(step)}.tmp-{os.getpid()}"
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


def latest_checkpoint(run_dir: Path) -> Path | None:
    root = checkpoints_dir(run_dir)
    try:
        name = (root / "latest").read_text().strip()
    except OSError:
        name = ""
    if name and (root / name / TRAINER_STATE).is_file():
        return root / name
    # `latest` missing or pointing at a removed folder: fall back to the newest complete one
    complete = sorted(p for p in root.glob("step-*") if (p / TRAINER_STATE).is_file()) if root.is_dir() else []
    return complete[-1] if complete else None


def prune_checkpoints(run_dir: Path, keep: int) -> list[str]:
    """Removes all but the newest `keep` checkpoints, never the one `latest` names; returns the removed names."""
    root = checkpoints_dir(run_dir)
    try:
        latest = (root / "latest").read_text().strip()
    except OSError:
        latest = ""
    folders = sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []
    removed = [p for p in folders[: max(0, len(folders) - keep)] if p.name != latest]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in removed]


def checkpoint_for_step(run_dir: Path, step: int) -> Path | None:
    path = checkpoints_dir(run_dir) / step_name(step)
    # a whole model (config.json), or the LoRA adapter of a model.lora run (adapter_config.json)
    return path if (path / "config.json").is_file() or (path / "adapter_config.json").is_file() else None


# ---------------------------------------------------------------- listing runs


def list_runs(runs_root: Path) -> list[dict]:
    """run.json of every run under `runs_root`, newest first, with crashes detected."""
    runs = []
    root = Path(runs_root)
    if not root.is_dir():
        return runs
    for run_dir in sorted(root.iterdir(), reverse=True):
        if not run_dir.is_dir():
            continue
        info = detect_crash(run_dir)
        if info is not None:
            runs.append({**info, "dir": str(run_dir)})
    return runs
