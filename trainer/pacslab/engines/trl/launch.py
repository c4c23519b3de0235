"""Starts an `engine: trl` run's processes: torchrun on a CPU (gloo), `accelerate launch` on GPUs.

The user never types a launcher command: `python -m pacslab train CONFIG` comes here for
`engine: trl`, and this process waits for the launcher, whose exit ends the run. A rank that dies
makes the launcher stop the others; the run is then `crashed` unless a rank recorded its error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pacslab.run import files as runio
from pacslab.config import Config
from pacslab.run.lifecycle import end_run, write_config
from pacslab.engines.checks import world_size

WORKER = "pacslab.engines.trl.run"


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
    code = subprocess.run(launcher_command(cfg, run_dir, base_dir=base_dir, resume=resume, cuda=cuda),
                          env=launcher_env(cuda)).returncode
    if code == 0:
        return 0
    info = runio.RunInfo(run_dir)
    if info.get("status") in runio.LIVE_STATUSES:
        events = runio.EventLog(run_dir)
        end_run(info, "crashed", events=events,
                error=f"a training process exited with code {code}; the launcher stopped the others")
        events.close()
    return 1
