"""Config rules of every engine, run before any process starts: the `launch:` section and the
vLLM server; each engine adds its own (ENGINES[...].check)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pacslab.config.schema import Config

Add = Callable[[str, str, str], None]


def check_engines(cfg: Config, base_dir: Path, add: Add) -> None:
    """The rules of every engine, then those of the config's engine."""
    from pacslab.engines import get

    _check_launch(cfg, base_dir, add)
    _check_vllm_url(cfg, add)
    get(cfg.engine).call("check", cfg, base_dir, add)


def world_size(cfg: Config) -> int:
    launch = cfg.launch
    # a Slurm job runs on launch.slurm.nodes machines (it sets num_machines from it)
    return launch.num_processes * (launch.slurm.nodes if launch.backend == "slurm" else launch.num_machines)


def _check_vllm_url(cfg: Config, add: Add) -> None:
    rollout = cfg.rollout
    if rollout.engine != "vllm" and rollout.vllm_server_url:
        add("rollout.vllm_server_url", "a vLLM server is only used with rollout.engine: vllm", "set rollout.engine: vllm, or remove the URL")


def _check_launch(cfg: Config, base_dir: Path, add: Add) -> None:
    launch = cfg.launch
    if launch.machine_rank >= launch.num_machines:
        add("launch.machine_rank", f"{launch.machine_rank} is not below launch.num_machines ({launch.num_machines})",
            f"use a rank from 0 to {launch.num_machines - 1}")
    if launch.num_machines > 1 and not launch.main_process_ip:
        add("launch.main_process_ip", "several machines need the address of machine 0", "set it to machine 0's IP or host name")
    if launch.accelerate_config:
        path = Path(launch.accelerate_config).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            add("launch.accelerate_config", f"{path} is not a file", "point it at an accelerate config (YAML), relative to the config file")
    if launch.num_processes > 1 and cfg.device != "cpu":
        _check_gpus(launch.num_processes, cfg.device, add)


def _check_gpus(wanted: int, device: str, add: Add) -> None:
    import torch

    have = torch.cuda.device_count()
    if device == "auto" and have == 0:
        return  # CPU processes (gloo)
    if wanted > have:
        add("launch.num_processes", f"{wanted} processes on GPUs, but this machine has {have}",
            f"set launch.num_processes to at most {have}, or device: cpu")
