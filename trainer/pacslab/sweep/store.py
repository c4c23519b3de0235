"""The sweep folder, `<workspace>/.pacs/sweeps/<sweep id>/` (docs/run-format.md, "Sweeps"):

- `sweep.json`: the sweep's id, status, config, method, metric, counts and best trial, and its
  controller's pid (rewritten whole, atomically);
- `spec.yaml` and `space.json`: the sweep as declared and its resolved space;
- `trials.json`: trial ↔ runs: each trial's number, parameters, state, value, runs (seed, run id)
  and, when pruned, the step and reason (rewritten whole, atomically);
- `control.jsonl`: `pause`, `resume`, `stop` for the sweep as a whole (as a run's control.jsonl);
- `journal.log`: Optuna's JournalStorage (file backend): the study, its trials and intermediate values;
- `importance.json`: Optuna's parameter importance over the finished trials;
- `controller.log`: the controller's output; `git.json`, `git.patch`: the code captured at start
  (written by the extension or `pacs-lab sweep`; absent for `python -m pacslab sweep`).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from pacslab.run import files as runio

SWEEP_JSON = "sweep.json"
TRIALS_JSON = "trials.json"
JOURNAL = "journal.log"
IMPORTANCE = "importance.json"
CONTROLLER_LOG = "controller.log"
SPEC = "spec.yaml"
SPACE = "space.json"
GIT_JSON = "git.json"
GIT_PATCH = "git.patch"
FORMAT = 1
DEFAULT_SWEEPS_ROOT = Path(".pacs") / "sweeps"
LIVE = ("running", "paused", "stopping")
TRIAL_STATES = ("running", "complete", "pruned", "failed")


def sweeps_root_of(runs_root: Path) -> Path:
    """`.pacs/sweeps` beside a runs root `.pacs/runs`."""
    return Path(runs_root).resolve().parent / "sweeps"


class SweepDir:
    """One sweep folder; reads are tolerant, writes atomic."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    def info(self) -> dict:
        return runio.read_json(self.path / SWEEP_JSON) or {}

    def update(self, **fields) -> dict:
        with self.locked():
            data = {**self.info(), **fields, "updated_at": runio.utc_now()}
            runio.write_json_atomic(self.path / SWEEP_JSON, data)
        return data

    def trials(self) -> list[dict]:
        data = runio.read_json(self.path / TRIALS_JSON) or {}
        trials = data.get("trials")
        return [t for t in trials if isinstance(t, dict)] if isinstance(trials, list) else []

    def write_trials(self, trials: list[dict]) -> None:
        runio.write_json_atomic(self.path / TRIALS_JSON, {"format": FORMAT, "trials": trials})

    @contextmanager
    def locked(self):
        """An exclusive lock on the folder's bookkeeping (Slurm array tasks write it at once)."""
        fd = os.open(self.path / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def storage(self):
        """Optuna's JournalStorage on journal.log (file locks, so several processes may share it)."""
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = str(self.path / JOURNAL)
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))

    def controller_alive(self) -> bool:
        c = self.info().get("controller") or {}
        # process_alive counts a killed controller its parent has not reaped yet (a zombie) as gone
        return c.get("host") == runio.process_fields()["host"] and runio.process_alive(c.get("pid"), c.get("pid_start_time"))

    def status(self) -> str:
        """The status as written; `crashed` for a live local sweep whose controller is gone (never written)."""
        info = self.info()
        status = str(info.get("status") or "running")
        if status in LIVE and info.get("backend", "local") == "local" and not self.controller_alive():
            return "crashed"
        return status


def counts(trials: list[dict], n_trials: int) -> dict:
    out = {state: sum(1 for t in trials if t.get("state") == state) for state in TRIAL_STATES}
    out["total"] = n_trials
    return out


def best_of(trials: list[dict], goal: str) -> dict | None:
    done = [t for t in trials if t.get("state") == "complete" and isinstance(t.get("value"), (int, float))]
    if not done:
        return None
    best = (max if goal == "maximize" else min)(done, key=lambda t: t["value"])
    return {"trial": best["number"], "value": best["value"], "params": best["params"],
            "runs": [r.get("run_id") for r in best.get("runs", [])]}


def list_sweeps(sweeps_root: Path) -> list[dict]:
    """sweep.json of every sweep, newest first, with `status` as read (crashed controllers found)."""
    root = Path(sweeps_root)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir(), reverse=True):
        if not runio.is_real_dir(path) or not runio.is_regular_file(path / SWEEP_JSON):
            continue
        sweep = SweepDir(path)
        out.append({**sweep.info(), "status": sweep.status(), "dir": str(path)})
    return out
