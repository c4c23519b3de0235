"""The Slurm backend of a sweep: one job array, `--array=0-(N-1)%parallel`, submitted through the
Slurm launcher's `sbatch` with the base config's launch.slurm options. Array task i asks Optuna for
a trial (the journal file is shared, and Optuna locks it), runs the trial's seeds one after another
as ordinary runs inside the task, and reports and prunes as the local controller does. Pause holds
the array's pending tasks and pauses its runs; Stop cancels the array (`scancel`: each running
trainer gets SIGTERM, saves a checkpoint and stops)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from pacslab.run import files as runio
from pacslab.config import ConfigError, load_config
from pacslab.launchers.slurm import SubmitError, sbatch, sbatch_options
from pacslab.sweep import runs as trial_runs
from pacslab.sweep.controller import Controller
from pacslab.sweep.store import SweepDir, best_of, counts

ARRAY_SCRIPT = "job.sbatch"
DROPPED = ("--output=", "--open-mode=", "--job-name=")


def render_array_script(sd: SweepDir, cfg, *, n_tasks: int, parallel: int, python: str, cwd: Path) -> str:
    options = [o for o in sbatch_options(cfg, sd.path) if not o.startswith(DROPPED)]
    options = [f"--job-name=pacs-sweep-{cfg.name or 'sweep'}", f"--output={sd.path.resolve() / 'task-%a.log'}",
               f"--array=0-{n_tasks - 1}%{parallel}", *options]
    lines = ["#!/bin/bash", *(f"#SBATCH {shlex.quote(o)}" for o in options),
             f"# PACS Lab sweep {sd.id}: array task i runs trial i (docs/sweeps.md).", "set -eo pipefail",
             f"cd {shlex.quote(str(cwd))}"]
    if cfg.launch.slurm.setup:
        lines += ["# launch.slurm.setup", *cfg.launch.slurm.setup]
    command = [cfg.launch.slurm.python or python, "-m", "pacslab", "sweep", "--array-task", str(sd.path.resolve())]
    return "\n".join([*lines, "export PYTHONUNBUFFERED=1", "exec " + shlex.join(command), ""])


def submit_array(sd: SweepDir) -> int:
    info = sd.info()
    try:
        cfg = load_config(info["config_path"])
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        sd.update(status="failed", error={"message": str(exc)})
        return 2
    script = sd.path / ARRAY_SCRIPT
    runio.write_atomic(script, render_array_script(sd, cfg, n_tasks=int(info["n_trials"]), parallel=int(info["parallel"]),
                                                   python=sys.executable, cwd=Path(info.get("workspace") or os.getcwd())))
    try:
        job_id = sbatch(script, Path(info.get("workspace") or os.getcwd()))
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sd.update(status="failed", error={"message": str(exc)})
        return 2
    sd.update(status="running", slurm_job_id=job_id, script=ARRAY_SCRIPT, controller=None)
    print(f"submitted Slurm job array {job_id} ({info['n_trials']} tasks, {info['parallel']} at once): {script}", flush=True)
    return 0


def _scontrol(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def control_array(sd: SweepDir, command: str) -> int:
    """Pause (hold pending tasks, pause runs), resume (release, resume) or stop (scancel) the array."""
    info = sd.info()
    job_id = info.get("slurm_job_id")
    if not job_id:
        print(f"error: sweep {sd.id} has no Slurm job", file=sys.stderr)
        return 2
    if command == "stop":
        done = _scontrol("scancel", str(job_id))
        sd.update(status="stopped")
    else:
        done = _scontrol("scontrol", "hold" if command == "pause" else "release", str(job_id))
        for t in sd.trials():
            for r in t.get("runs", []):
                if r.get("run_dir") and r.get("ended") is None:
                    trial_runs.send(Path(r["run_dir"]), command)
        sd.update(status="paused" if command == "pause" else "running")
    if done.returncode != 0 and "already" not in (done.stderr or "") and "completed" not in (done.stderr or ""):
        print(f"{command}: {(done.stderr or done.stdout).strip()}", file=sys.stderr)
    print(f"{command} sent to sweep {sd.id} (Slurm job {job_id})")
    return 0


class ArrayTask(Controller):
    """One array task: one trial, its seeds in sequence; the sweep's files shared with the other tasks."""

    def __init__(self, sweep_dir: Path, index: int):
        super().__init__(sweep_dir, log=lambda text: print(text, flush=True))
        self.index = index
        self.spec = self.spec.model_copy(update={"parallel": 1})
        self.gpus = []  # the job's own GPUs (CUDA_VISIBLE_DEVICES from Slurm) are the trainer's

    def save(self, status: str | None = None) -> None:
        mine = {t["number"]: t for t in self.trials if t.get("task") == self.index}
        with self.sd.locked():
            merged = [t for t in self.sd.trials() if t["number"] not in mine] + list(mine.values())
            merged.sort(key=lambda t: t["number"])
            self.sd.write_trials(merged)
        c = counts(merged, self.n_trials)
        done = c["complete"] + c["pruned"] + c["failed"] >= self.n_trials
        fields = {"counts": c, "best": best_of(merged, self.spec.metric.goal)}
        if done and self.sd.info().get("status") not in ("stopped", "failed"):
            fields["status"] = "finished"
        self.sd.update(**fields)

    def run(self) -> str:
        with self.sd.locked():
            self.trials = self.sd.trials()
            mine = next((t for t in self.trials if t.get("task") == self.index), None)
            if mine is None:  # first start of this task (a requeued task keeps its trial)
                from pacslab.sweep.space import distributions

                trial = self.study.ask(distributions(self._sweep_view()))
                self._add_trial(trial.number, dict(trial.params), save=False)
                mine = self.trial(trial.number)
                mine["task"] = self.index
                self.sd.write_trials(sorted(self.trials, key=lambda t: t["number"]))
        self.trials = [mine]
        self.log(f"array task {self.index}: trial {mine['number']} {mine['params']}")
        cancelled: list[int] = []  # scancel: the trainer saves a checkpoint and stops; this task records it
        signal.signal(signal.SIGTERM, lambda *_: cancelled.append(1))
        while mine["state"] == "running" or self.live_runs():
            self._poll_runs()
            if cancelled and mine["state"] == "running" and not self.live_runs():
                self._finish(mine, "failed", error="the sweep's Slurm job was cancelled")
            elif mine["state"] == "running" and not self.live_runs() and self._pending():
                self._launch(*self._pending()[0])
            time.sleep(self.poll_s)
        self.save()
        return mine["state"]


def run_array_task(sweep_dir: Path) -> int:
    index = os.environ.get("SLURM_ARRAY_TASK_ID")
    if index is None or not index.isdigit():
        print("error: --array-task runs inside a Slurm array task (SLURM_ARRAY_TASK_ID is not set)", file=sys.stderr)
        return 2
    state = ArrayTask(Path(sweep_dir), int(index)).run()
    return 0 if state in ("complete", "pruned") else 1
