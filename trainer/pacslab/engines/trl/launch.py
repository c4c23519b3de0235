"""Starts an `engine: trl` run's processes: torchrun on a CPU (gloo), `accelerate launch` on GPUs.

The user never types a launcher command: `python -m pacslab train CONFIG` comes here for
`engine: trl`, and this process waits for the launcher, whose exit ends the run. It stays the
run's process in run.json (its pid), so no reader takes the run for crashed while it can still say
why. A process that dies makes the launcher stop the others and report which one failed how
(agent.py); this process then ends the run (`run_end`): `failed` when that rank recorded its own
error, `crashed` when it was killed or exited without a word.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pacslab.run import files as runio
from pacslab.config import Config
from pacslab.run.lifecycle import end_run, write_config
from pacslab.run.status_words import says_peer_gone
from pacslab.engines.checks import world_size

WORKER = "pacslab.engines.trl.run"
AGENT = "pacslab.engines.trl.agent"


def uses_cuda(cfg: Config) -> bool:
    if cfg.device == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


def launcher_env(cuda: bool) -> dict[str, str]:
    """The environment of the launcher and its processes, on every machine: offline hub, one CPU
    thread per process on a CPU (unless set), and TRL's report_to is [] here, so transformers'
    MLflow integration is never used: skip importing mlflow."""
    env = {"DISABLE_MLFLOW_INTEGRATION": "TRUE", **os.environ, "HF_HUB_OFFLINE": "1"}
    if not cuda:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def launcher_command(cfg: Config, run_dir: Path, *, base_dir: Path, resume: bool, cuda: bool) -> list[str]:
    launch = cfg.launch
    worker = [str(run_dir)] + (["--resume"] if resume else [])
    if cuda:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(world_size(cfg)),
                   "--num_machines", str(launch.num_machines), "--machine_rank", str(launch.machine_rank)]
        if launch.accelerate_config:
            path = Path(launch.accelerate_config).expanduser()
            command += ["--config_file", str(path if path.is_absolute() else base_dir / path)]
        if launch.main_process_ip:
            command += ["--main_process_ip", launch.main_process_ip]
        if launch.main_process_port:
            command += ["--main_process_port", str(launch.main_process_port)]
        return command + ["-m", WORKER, *worker]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(launch.num_processes)]
    if launch.num_machines == 1 and not launch.main_process_port:
        command += ["--standalone"]
    else:
        command += ["--nnodes", str(launch.num_machines), "--node_rank", str(launch.machine_rank),
                    "--master_addr", launch.main_process_ip or "127.0.0.1", "--master_port",
                    str(launch.main_process_port or 29500)]
    return command + ["-m", WORKER, *worker]


def launch(cfg: Config, run_dir: Path, *, base_dir: Path, resume: bool, log=None, on_step=None, inputs=None) -> int:
    """Runs the processes to the end; returns the exit code of `python -m pacslab train`. `log`,
    `on_step` and `inputs` are the native engine's: each rank here prints and reads for itself."""
    info = runio.RunInfo(run_dir)
    if not resume:
        write_config(cfg, run_dir, base_dir)
    cuda = uses_cuda(cfg)
    info.update(status="starting", config_dir=str(base_dir), engine="trl", world_size=world_size(cfg),
                **runio.process_fields())
    command = launcher_command(cfg, run_dir, base_dir=base_dir, resume=resume, cuda=cuda)
    with tempfile.TemporaryDirectory(prefix="pacslab-launch-") as tmp:  # outside the run folder: trusted
        report = Path(tmp) / "failures.json"
        code = subprocess.run([command[0], "-m", AGENT, str(report), *command[1:]], env=launcher_env(cuda)).returncode
        failures = json.loads(report.read_text()) if report.exists() else []
    if code == 0:
        return 0
    info = runio.RunInfo(run_dir)
    if info.get("status") in runio.LIVE_STATUSES:  # else a rank recorded the run's end itself
        status, error, traceback = run_end(failures, code, output_of(run_dir))
        print(f"error: {error}", file=sys.stderr, flush=True)
        events = runio.EventLog(run_dir)
        end_run(info, status, events=events, error=error, traceback=traceback)
        events.close()
    return 1


def _first(failures: list[dict]) -> dict:
    """The process that failed of its own accord: not one whose error says only that it lost its
    peers, nor one the launcher stopped (SIGTERM) once another had failed; then the first observed."""
    return min(failures, key=lambda f: (says_peer_gone(f["message"] or ""), f["signal"] == "SIGTERM", f["timestamp"]))


def run_end(failures: list[dict], code: int, output: str) -> tuple[str, str, str | None]:
    """(status, error, traceback) of a run whose launcher exited with `code`, from its report of the
    failed processes (agent.py). `output` says where each process's output is."""
    stopped = f"; the launcher stopped the other processes. {output}"
    if not failures:
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
        return "crashed", f"the launcher {how} before any training process failed. {output}", None
    f = _first(failures)
    who = f"rank {f['rank']} (pid {f['pid']})"
    if f["signal"]:
        oom = " (the kernel's out-of-memory killer sends SIGKILL: `dmesg` names the processes it killed)" \
            if f["signal"] == "SIGKILL" else ""
        return "crashed", f"{who} was killed by signal {f['signal']}{oom}{stopped}", None
    if f["message"] is None:
        return "crashed", f"{who} exited with code {f['exitcode']} without recording an error{stopped}", None
    if says_peer_gone(f["message"]):
        return "crashed", f"another training process is gone: {who} lost its peers ({f['message']}){stopped}", None
    return "failed", f"{who} failed: {f['message']}{stopped}", f["traceback"]


def _signal_name(number: int) -> str:
    import signal

    try:
        return f"signal {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


def output_of(run_dir: Path) -> str:
    """Where this process's output (and so every rank's) goes: the run's trainer.log when the
    extension or a Slurm job launched it, else wherever `python -m pacslab train` printed."""
    log = Path(run_dir) / runio.TRAINER_LOG
    try:
        ours = os.path.samestat(os.fstat(sys.stdout.fileno()), os.lstat(log))
    except (OSError, ValueError):
        ours = False
    return f"See {log} for each process's output." if ours else "See the output of `python -m pacslab train` for each process's output."
