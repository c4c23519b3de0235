"""The Slurm launcher: writes the run's batch script (`job.sbatch`), submits it with `sbatch`, and
records the job in launcher.json and the run as `queued` (docs/clusters.md).

The job runs `python -m pacslab train --here` with the same run directory, so a shared file system
carries events, control and checkpoints both ways. Every entry point submits through `submit`:
`python -m pacslab train`, and through it the extension's ▶ Train and `pacs-lab train`.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pacslab.run import files as runio
from pacslab.run.lifecycle import EXIT_CONFIG, end_run
from pacslab.config import Config

JOB_SCRIPT = "job.sbatch"
LAUNCHER = "launcher.json"
# How long a resume waits for a job that is COMPLETING (its processes ending, the epilog running: the
# trainer has written its end) before it refuses to submit again.
COMPLETING_WAIT_S = 60.0
# Slurm states in which the job may still run the trainer: a second submission would train twice.
ACTIVE_STATES = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
                 "STAGE_OUT", "RESV_DEL_HOLD", "REQUEUE_FED", "REQUEUE_HOLD")

# sbatch's refusals, by the key of launch.slurm that causes them; account before partition, for
# "Invalid account or account/partition combination specified".
_REFUSAL_KEYS = (
    (re.compile(r"account|association", re.I), "launch.slurm.account"),
    (re.compile(r"partition", re.I), "launch.slurm.partition"),
    (re.compile(r"qos", re.I), "launch.slurm.qos"),
    (re.compile(r"gres|gpu", re.I), "launch.slurm.gpus_per_node"),
    (re.compile(r"time limit", re.I), "launch.slurm.time"),
    (re.compile(r"memory", re.I), "launch.slurm.mem"),
    (re.compile(r"node count|nodes", re.I), "launch.slurm.nodes"),
    (re.compile(r"processors|cpu", re.I), "launch.slurm.cpus_per_task"),
)


class SubmitError(Exception):
    """A submission Slurm refused or could not take; `str()` is the message for the user."""


@dataclass
class Job:
    job_id: str
    script: Path


def sbatch_options(cfg: Config, run_dir: Path) -> list[str]:
    """The `#SBATCH` options of the run's job, in the order written."""
    s = cfg.launch.slurm
    log = Path(run_dir).resolve() / runio.TRAINER_LOG
    options = [f"--job-name=pacs-{cfg.name or 'run'}", f"--output={log}", "--open-mode=append",
               f"--nodes={s.nodes}", "--ntasks-per-node=1"]
    named = (("partition", s.partition), ("gpus-per-node", s.gpus_per_node or None), ("cpus-per-task", s.cpus_per_task),
             ("mem", s.mem), ("time", s.time), ("account", s.account), ("qos", s.qos))
    options += [f"--{flag}={value}" for flag, value in named if value is not None]
    return options + list(s.extra_sbatch_args)


def render_script(cfg: Config, run_dir: Path, train_args: list[str], *, python: str, cwd: Path) -> str:
    """The batch script: the options, the site's `setup` lines, then the trainer (`exec`, so that
    Slurm's signals, scancel's SIGTERM among them, reach it and it saves a checkpoint as it stops)."""
    run_dir = Path(run_dir).resolve()
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {shlex.quote(option)}" for option in sbatch_options(cfg, run_dir)]
    lines += [
        f"# PACS Lab run {run_dir.name}, written by the Slurm launcher (docs/clusters.md).",
        f"# Resubmit by hand with: sbatch {shlex.quote(str(run_dir / JOB_SCRIPT))}",
        "set -eo pipefail",
        f"cd {shlex.quote(str(cwd))}",
    ]
    if cfg.launch.slurm.setup:
        lines += ["# launch.slurm.setup", *cfg.launch.slurm.setup]
    command = [cfg.launch.slurm.python or python, "-m", "pacslab", "train", "--here", *train_args]
    lines += ["export PYTHONUNBUFFERED=1", *_trainer_lines(cfg, command), ""]
    return "\n".join(lines)


# What each node's task adds to the trainer's command: its rank and machine 0's address and port.
NODE_ARGS = ('exec "$@" --set "launch.machine_rank=$SLURM_NODEID" --set "launch.main_process_ip=$PACS_MAIN_HOST" '
             '--set "launch.main_process_port=$PACS_MAIN_PORT"')


def _trainer_lines(cfg: Config, command: list[str]) -> list[str]:
    """The script's last lines: the native engine's trainer in the batch step itself; for engine:
    trl, one srun task per node, each a trainer that starts its node's processes (torchrun on CPUs,
    accelerate launch on GPUs) with the node's rank, machine 0 being the job's first host."""
    if cfg.engine != "trl":
        return ["exec " + shlex.join(command)]
    nodes = cfg.launch.slurm.nodes
    port = cfg.launch.main_process_port
    return [
        f"# engine: trl on {nodes} node(s) x {cfg.launch.num_processes} process(es): machine 0, the job's first host,",
        "# holds the rendezvous and writes the run directory; each node's task adds its rank (SLURM_NODEID).",
        'export PACS_MAIN_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
        f"export PACS_MAIN_PORT={port}" if port else "export PACS_MAIN_PORT=$((20000 + SLURM_JOB_ID % 20000))",
        f"exec srun --kill-on-bad-exit=1 --nodes={nodes} --ntasks-per-node=1 bash -c {shlex.quote(NODE_ARGS)} pacs-node "
        + shlex.join([*command, "--set", f"launch.num_machines={nodes}"]),
    ]


def submit(cfg: Config, run_dir: Path, train_args: list[str], *, cwd: Path, record: dict | None = None) -> Job:
    """Writes job.sbatch into the run directory and submits it; records launcher.json and the run as
    `queued`. Raises SubmitError (nothing submitted) with sbatch's own message and the key to fix.

    launcher.json keeps what an earlier launcher wrote there (the extension records how the config
    was launched before it calls this; a resume keeps the first launch's record); `record` fills
    what is missing."""
    run_dir = Path(run_dir).resolve()
    _refuse_layout(cfg)
    _refuse_if_active(run_dir)
    python = sys.executable
    resume = train_args[:1] == ["--resume"]
    script = run_dir / JOB_SCRIPT
    runio.write_atomic(script, render_script(cfg, run_dir, train_args, python=python, cwd=cwd))
    job_id = sbatch(script, cwd)
    previous = runio.read_json(run_dir / LAUNCHER) or {}
    runio.write_json_atomic(run_dir / LAUNCHER, {
        **(record or {}), **previous, "backend": "slurm", "resume": resume, "job_id": job_id, "pid": None, "pid_start_time": None,
        "host": socket.gethostname(), "python": python, "args": ["-m", "pacslab", "train", "--here", *train_args],
        "cwd": str(cwd), "script": JOB_SCRIPT, "launched_at": runio.utc_now(),
    })
    runio.RunInfo(run_dir).update(status="queued", pid=None, pid_start_time=None, error=None, slurm_job_id=job_id)
    runio.EventLog(run_dir).emit("state", status="queued", reason=f"submitted as Slurm job {job_id}")
    return Job(job_id, script)


def sbatch(script: Path, cwd: Path) -> str:
    """Submits a batch script; returns the job id. SubmitError with sbatch's message and the key to fix."""
    try:
        done = subprocess.run(["sbatch", "--parsable", str(script)], cwd=cwd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SubmitError("launch.backend is slurm, but `sbatch` is not on PATH: this machine is not a Slurm login "
                          "node, or Slurm's commands are not on its PATH. Fix: launch from a login node (VS Code "
                          "Remote-SSH, docs/clusters.md), or set launch.backend: local.") from None
    except subprocess.TimeoutExpired:
        raise SubmitError("`sbatch` did not answer in 120 s: the Slurm controller may be down. Nothing is known to be "
                          f"submitted; check `squeue --me` before launching again. Script: {script}") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"sbatch exited with code {done.returncode}"
        raise SubmitError(f"sbatch refused the job:\n{message}\nFix: {_refusal_fix(message)} The script is {script}.")
    return done.stdout.strip().split(";")[0]


def _refuse_layout(cfg: Config) -> None:
    launch, nodes = cfg.launch, cfg.launch.slurm.nodes
    if nodes > 1 and cfg.engine != "trl":
        raise SubmitError(f"launch.slurm.nodes is {nodes}, but the native engine trains on one node. Fix: set "
                          "launch.slurm.nodes: 1 (gpus_per_node sets the GPUs of that node), or engine: trl to train on several.")
    # a resumed run's config.yaml holds what its job set: num_machines = nodes, machine 0's address
    if launch.num_machines not in (1, nodes):
        raise SubmitError(f"launch.num_machines is {launch.num_machines}, but the job runs on launch.slurm.nodes ({nodes}) "
                          "machines. Fix: remove launch.num_machines (the job sets it from launch.slurm.nodes).")


def _refusal_fix(message: str) -> str:
    for pattern, key in _REFUSAL_KEYS:
        if pattern.search(message):
            return f"change {key} in the config (`sinfo` and `sacctmgr show assoc user=$USER` list what you may use)."
    return "check the launch.slurm keys of the config against the message above."


def job_state(job_id: str) -> str | None:
    """Slurm's state of the job (`PENDING`, `RUNNING`, `CANCELLED`, ...), or None when Slurm no longer
    knows it (ended and purged) or cannot be asked."""
    for command in (["squeue", "-h", "-j", job_id, "-o", "%T"], ["scontrol", "show", "job", "-o", job_id]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = done.stdout.strip()
        if done.returncode != 0 or not text:
            continue
        match = re.search(r"\bJobState=(\S+)", text)
        return match.group(1) if match else text.split()[0]
    return None


def _refuse_if_active(run_dir: Path) -> None:
    previous = runio.read_json(run_dir / LAUNCHER) or {}
    job_id = previous.get("job_id")
    if previous.get("backend") != "slurm" or not isinstance(job_id, str):
        return
    state = job_state(job_id)
    waited = 0.0
    while state == "COMPLETING" and waited < COMPLETING_WAIT_S:  # its trainer has ended; Slurm is tidying up
        time.sleep(1.0)
        waited += 1.0
        state = job_state(job_id)
    if state in ACTIVE_STATES:
        raise SubmitError(f"Slurm job {job_id} of this run is still {state}: submitting again would train it twice. "
                          f"Fix: wait for it to end, or stop it (`scancel {job_id}`), then resume.")


def submit_from_cli(cfg: Config, run_dir: Path, *, config_path: Path | None, overrides: list[str], resume: bool) -> int:
    """`python -m pacslab train` under launch.backend: slurm. Returns the exit code; a refused
    submission of a new run marks it failed, of a resumed one leaves its status as it was."""
    run_dir = Path(run_dir).resolve()
    if resume:
        train_args = ["--resume", str(run_dir)]
    else:
        train_args = [str(Path(config_path).resolve()), "--run-dir", str(run_dir), *(a for o in overrides for a in ("--set", o))]
    record = {"config_abs_path": str(Path(config_path or run_dir / runio.CONFIG).resolve()), "config_repo_path": None,
              "sets": overrides, "device": next((o.split("=", 1)[1] for o in overrides if o.startswith("device=")), None)}
    try:
        job = submit(cfg, run_dir, train_args, cwd=Path(os.getcwd()), record=record)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not resume:
            end_run(runio.RunInfo(run_dir), "failed", error=str(exc))
        return EXIT_CONFIG
    print(f"submitted Slurm job {job.job_id}: {job.script}", flush=True)
    return 0
