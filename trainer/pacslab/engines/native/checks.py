"""Config rules of the native engine (engines/__init__.py ENGINES)."""

from __future__ import annotations

from pathlib import Path

from pacslab.config.schema import Config
from pacslab.engines.checks import Add, world_size


def check_native(cfg: Config, base_dir: Path, add: Add) -> None:
    if world_size(cfg) > 1:
        add("launch.num_processes", "the native engine runs in one process", "set engine: trl to train on several processes")
    if cfg.rollout.engine == "vllm":
        add("rollout.engine", "vLLM rollouts run through TRL", "set engine: trl, or rollout.engine: transformers")
    if cfg.trl:
        add("trl", "the trl section only applies to engine: trl", "set engine: trl, or remove the trl section")
