"""What every importer produces (an ImportedRun) and how it becomes a run directory."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pacslab.health.ledger import Ledger
from pacslab.health.records import step_prompts
from pacslab.run import safe_json
from pacslab.run import files as runio


class ImportError_(ValueError):  # noqa: N801 - `ImportError` is Python's own
    """A source that cannot be imported: the message names the file and what to do."""


@dataclass
class ImportedRun:
    source_path: Path
    trainer: str  # "tensorboard", "trl", "verl"
    name: str
    loss_metric: str | None = None
    total_steps: int | None = None
    # step -> {metric: value}; eval values go to eval events
    metrics: dict[int, dict[str, float | None]] = field(default_factory=dict)
    evals: dict[int, dict[str, float | None]] = field(default_factory=dict)
    times: dict[int, float] = field(default_factory=dict)  # step -> unix seconds, where the source has them
    rollouts: dict[int, list[dict]] = field(default_factory=dict)
    checkpoints: list[dict] = field(default_factory=list)  # [{step, path}], left in the source
    config: dict = field(default_factory=dict)

    def add(self, table: dict[int, dict], step: int, name: str, value: float | None, t: float | None = None) -> None:
        table.setdefault(step, {})[name] = finite(value)
        if t is not None:
            self.times[step] = max(self.times.get(step, t), t)


def finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plain_json(value, where: str, depth: int = 0):
    """`value` as a run file may hold it: NaN and infinities become null, a lone surrogate (an
    unpaired `\\ud800` escape) becomes U+FFFD, other objects their text; nesting deeper than a run
    file may hold is an ImportError_ naming `where` (the file, the line or row, the field)."""
    if depth > safe_json.MAX_DEPTH:
        raise ImportError_(f"{where}: nested deeper than {safe_json.MAX_DEPTH} levels of lists and objects; a run file holds no deeper value")
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {plain_json(str(k), where, depth + 1): plain_json(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if hasattr(value, "tolist"):
        return plain_json(value.tolist(), where, depth)
    return plain_json(str(value), where, depth)


def number_groups(records: list[dict]) -> list[dict]:
    """Sets each record's `group` (its prompt's place among the step's prompts, by first
    appearance) and `index` (its place within the group), as our rollout records have them."""
    groups: dict[str, int] = {}
    sizes: dict[int, int] = {}
    for record in records:
        group = groups.setdefault(record["prompt"], len(groups))
        record["group"], record["index"] = group, sizes.get(group, 0)
        sizes[group] = record["index"] + 1
    return records


def regular_file(path: Path) -> Path:
    """`path` when it is a regular file (not a link, a pipe or a device), else a clear error: a
    source folder is untrusted data, and a link in it could make an import read another file."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise ImportError_(f"{path} is {kind}; replace it with the file itself, or leave it out of the folder")
    return path


def read_text(path: Path) -> str:
    try:
        return regular_file(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def run_name(text: str) -> str:
    """A config-name-like part of the run id from a folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "imported"
    return cleaned[:40]


def already_imported(runs_root: Path, source: Path) -> str | None:
    root = Path(runs_root)
    if not root.is_dir():
        return None
    wanted = str(Path(source).resolve())
    for run_dir in sorted(root.iterdir()):
        if run_dir.is_symlink() or not run_dir.is_dir():
            continue
        info = runio.read_json(run_dir / runio.RUN_JSON) or {}
        src = info.get("source")
        if isinstance(src, dict) and src.get("path") == wanted:
            return run_dir.name
    return None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z"


def write_run(run: ImportedRun, runs_root: Path, *, name: str | None = None) -> Path:
    """A new run directory holding `run`: run.json (status finished, `source`), events.jsonl (metrics,
    eval and rollouts events in step order) and rollouts/step-NNNNNN.jsonl. Nothing is left behind
    when writing fails: the folder is complete or absent."""
    name = run_name(name or run.name)
    run_dir = runio.create_run_dir(Path(runs_root), name)
    try:
        _write_run(run, run_dir, name)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir


def _write_run(run: ImportedRun, run_dir: Path, name: str) -> None:
    steps = sorted(set(run.metrics) | set(run.evals) | set(run.rollouts))
    last = max(steps, default=0)
    fallback_t = os.stat(run.source_path).st_mtime
    t_of = _times(run, steps, fallback_t)
    ledger = Ledger(run_dir)
    lines: list[dict] = [{"t": t_of(steps[0] if steps else 0), "type": "run_started", "config": plain_json(run.config, f"{run.source_path} (config)"),
                          "total_steps": run.total_steps or last}]
    for step in steps:
        t = t_of(step)
        if step in run.metrics:
            lines.append({"t": t, "type": "metrics", "step": step, "values": run.metrics[step]})
        if step in run.evals:
            lines.append({"t": t, "type": "eval", "step": step,
                          "values": {k: v for k, v in run.evals[step].items() if v is not None}})
        if step in run.rollouts:
            records = plain_json(run.rollouts[step], f"{run.source_path} step {step} rollouts")
            rel = runio.write_rollouts(run_dir, step, records, jsonl=True)
            lines.append({"t": t, "type": "rollouts", "step": step, "file": rel, "count": len(records)})
            ledger.write(step, step_prompts(records))  # the prompt ledger, prompt text as the id
    ledger.close()
    end = t_of(last)
    lines.append({"t": end, "type": "state", "step": last, "status": "finished", "reason": f"imported from {run.trainer}"})
    lines.append({"t": end, "type": "run_finished", "status": "finished"})
    body = "".join(json.dumps(line, allow_nan=False, ensure_ascii=False) + "\n" for line in lines)
    runio.write_atomic(run_dir / runio.EVENTS, body)
    runio.write_json_atomic(run_dir / runio.RUN_JSON, {
        "format": runio.FORMAT_VERSION, "id": run_dir.name, "name": name, "algorithm": run.trainer,
        "loss_metric": run.loss_metric, "status": "finished", "created_at": _iso(lines[0]["t"]),
        "updated_at": runio.utc_now(), "step": last, "total_steps": run.total_steps or last, "seed": None,
        "git": None, "error": None,
        "source": {"path": str(Path(run.source_path).resolve()), "trainer": run.trainer,
                   "imported_at": runio.utc_now(), "checkpoints": run.checkpoints},
    })


def _times(run: ImportedRun, steps: list[int], fallback: float):
    """Each step's time: the source's own where it has one, else the nearest earlier known time (a
    source without any, such as trainer_state.json alone, puts every step at the source's mtime)."""
    known = sorted(run.times.items())

    def t_of(step: int) -> float:
        earlier = [t for s, t in known if s <= step]
        if earlier:
            return earlier[-1]
        return known[0][1] if known else fallback

    return t_of
