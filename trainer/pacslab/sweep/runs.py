"""One run of a trial: made as an ordinary run (its folder, run.json, git, config.yaml, trainer.log,
launcher.json), trained by `python -m pacslab train`, and read back through its events for the
sweep's metric. run.json names the sweep: `sweep: {id, trial, seed, params}`."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pacslab.run import files as runio
from pacslab.run import safe_json
from pacslab.run.control import append_command
from pacslab.sweep.space import override
from pacslab.sweep.store import GIT_JSON, GIT_PATCH, SweepDir

ENDED = ("finished", "stopped", "failed", "crashed", "suspended")


def train_args(config_path: Path, run_dir: Path, params: dict, seed: int, fixed: dict | None = None) -> list[str]:
    """`--set` the sweep's fixed keys, then the trial's parameters and seed."""
    sets = [override(k, v) for k, v in (fixed or {}).items()] + [override(k, v) for k, v in params.items()] + [f"seed={seed}"]
    return [str(config_path), "--run-dir", str(run_dir), *(a for s in sets for a in ("--set", s))]


def make_run_dir(sweep: SweepDir, *, runs_root: Path, name: str, config_path: Path, trial: int, seed: int,
                 params: dict, workspace: Path) -> Path:
    """The trial's run folder with the launcher's run.json (status `starting`) and git.patch. A folder
    this sweep made for the same trial and seed but never started (its controller was killed between
    making it and spawning the trainer) is taken up again, so a resumed sweep leaves no orphan."""
    run_name = f"{name}-t{trial}-s{seed}"
    run_dir = _unstarted(runs_root, run_name, sweep.id, trial, seed) or runio.create_run_dir(runs_root, run_name)
    git = runio.read_json(sweep.path / GIT_JSON)
    if git is None:
        from pacslab.gitinfo import git_info

        git = git_info(config_path.parent)
    elif runio.is_regular_file(sweep.path / GIT_PATCH):
        shutil.copyfile(sweep.path / GIT_PATCH, run_dir / "git.patch")
    try:
        config_rel = os.path.relpath(config_path, workspace)
    except ValueError:
        config_rel = str(config_path)
    runio.RunInfo(run_dir).update(
        format=runio.FORMAT_VERSION, id=run_dir.name, name=name, status="starting", pid=None, pid_start_time=None,
        host=runio.process_fields()["host"], created_at=runio.utc_now(), step=0, config_path=config_rel, seed=seed,
        git=git, error=None, sweep={"id": sweep.id, "trial": trial, "seed": seed, "params": params})
    return run_dir


def _unstarted(runs_root: Path, run_name: str, sweep_id: str, trial: int, seed: int) -> Path | None:
    """A run folder named for (trial, seed) with no run.json yet, or this sweep's run.json still
    `starting` with no trainer ever spawned (no launcher.json)."""
    if not runio.is_real_dir(runs_root):
        return None
    for run_dir in sorted(runs_root.glob(f"*-{run_name}-*")):
        if not runio.is_run_id_of(run_dir.name, run_name) or not runio.is_real_dir(run_dir) or \
                (run_dir / "launcher.json").exists():
            continue
        if not (run_dir / runio.RUN_JSON).exists():
            return run_dir
        info = runio.read_json(run_dir / runio.RUN_JSON)
        tag = (info or {}).get("sweep") or {}
        if info and info.get("status") == "starting" and info.get("pid") is None and \
                (tag.get("id"), tag.get("trial"), tag.get("seed")) == (sweep_id, trial, seed):
            return run_dir
    return None


def spawn_run(run_dir: Path, config_path: Path, params: dict, seed: int, *, fixed: dict | None = None,
              gpu: str | None = None) -> int:
    """Starts the trainer detached (its own session: it outlives the controller), output in
    trainer.log; records launcher.json. Returns the pid."""
    args = spawn_args(config_path, run_dir, params, seed, fixed)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    with open(run_dir / runio.TRAINER_LOG, "ab") as log:
        child = subprocess.Popen([sys.executable, *args], cwd=config_path.parent, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    record_launcher(run_dir, child.pid, args, config_path)
    return child.pid


def spawn_args(config_path: Path, run_dir: Path, params: dict, seed: int, fixed: dict | None) -> list[str]:
    # --here: the run trains in this process tree whatever the base config's launch.backend says (sweep.backend decides)
    return ["-m", "pacslab", "train", "--here", *train_args(config_path, run_dir, params, seed, fixed)]


def record_launcher(run_dir: Path, pid: int, args: list[str], config_path: Path) -> None:
    runio.write_json_atomic(run_dir / "launcher.json", {
        "backend": "local", "pid": pid, "pid_start_time": runio.pid_start_time(pid),
        "host": runio.process_fields()["host"], "python": sys.executable, "args": args, "cwd": str(config_path.parent),
        "config_abs_path": str(config_path), "config_repo_path": None, "sets": args[args.index("--set") + 1::2] if "--set" in args else [],
        "device": None, "launched_at": runio.utc_now()})


def trainers_of(run_dir: Path) -> list[int]:
    """The live `python -m pacslab train ... --run-dir RUN_DIR` processes of this machine (from /proc;
    [] where there is no /proc). A controller killed between spawning a trainer and recording it in
    launcher.json leaves one that has not yet written its pid to run.json (Python takes seconds to
    start): a second trainer for the run must not be started then."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    target = str(run_dir)
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = [w.decode(errors="replace") for w in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if "pacslab" in words and "train" in words and \
                any(words[i] == "--run-dir" and words[i + 1] == target for i in range(len(words) - 1)):
            found.append(int(entry.name))
    return sorted(found)


def send(run_dir: Path, command: str) -> None:
    try:
        append_command(run_dir, command)
    except (OSError, runio.UnsafeRunPath):
        pass


@dataclass
class RunWatch:
    """Reads a run's new events: the metric's value at each step, and how the run ended."""

    run_dir: Path
    metric: str
    values: dict[int, float] = field(default_factory=dict)
    ended: str | None = None
    lines: safe_json.BoundedLines = field(default_factory=safe_json.BoundedLines)

    def poll(self) -> None:
        # the run's events through the bounded reader (a run folder is untrusted): a line over the
        # cap, nested too deep or not JSON is skipped, and only new complete lines are read each poll
        try:
            fd = runio.open_run_file(self.run_dir / runio.EVENTS, os.O_RDONLY)
        except (FileNotFoundError, runio.UnsafeRunPath):
            fd = None
        if fd is not None:
            try:
                for _, event, problem in safe_json.iter_json_lines(fd, self.lines):
                    if problem is None and isinstance(event, dict):
                        self._take(event)
            finally:
                os.close(fd)
        if self.ended is None:
            info = runio.detect_crash(self.run_dir) or {}
            if info.get("status") in ("failed", "crashed") or (info.get("status") in ENDED and not self._live()):
                self.ended = str(info.get("status"))
            elif info.get("status") == "starting" and not self._live():
                self.ended = "crashed"  # the trainer never wrote its pid and its process is gone

    def _live(self) -> bool:
        launcher = runio.read_json(self.run_dir / "launcher.json") or {}
        info = runio.read_json(self.run_dir / runio.RUN_JSON) or {}
        pid, start = (info.get("pid"), info.get("pid_start_time")) if info.get("pid") else (launcher.get("pid"), launcher.get("pid_start_time"))
        return runio.process_alive(pid, start)

    def _take(self, event: dict) -> None:
        kind, step, values = event.get("type"), event.get("step"), event.get("values")
        if kind == "run_finished":
            self.ended = str(event.get("status"))
        wanted = "eval" if self.metric.startswith("eval/") else "metrics"
        if kind != wanted or not isinstance(step, int) or not isinstance(values, dict) or (kind == "metrics" and step < 1):
            return
        value = values.get(self.metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.values[step] = float(value)

    def value(self, at: str, goal: str) -> float | None:
        if not self.values:
            return None
        if at == "best":
            return (max if goal == "maximize" else min)(self.values.values())
        return self.values[max(self.values)]
