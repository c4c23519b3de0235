"""Config rules of `engine: trl`, run before any process starts (engines/checks.py has the rules of every engine)."""

from __future__ import annotations

from pathlib import Path
from pacslab import algorithms
from pacslab.config.schema import Config
from pacslab.engines.checks import Add, world_size

# GRPOConfig fields another section already sets: a `trl:` entry for one of them is an error naming that key
OWNED_FIELDS = {
    "learning_rate": "optim.lr", "weight_decay": "optim.weight_decay", "adam_beta1": "optim.betas",
    "adam_beta2": "optim.betas", "lr_scheduler_type": "optim.schedule", "warmup_steps": "optim.warmup_steps",
    "max_grad_norm": "optim.max_grad_norm", "gradient_checkpointing": "model.gradient_checkpointing",
    "num_generations": "rollout.n", "max_completion_length": "rollout.max_new_tokens",
    "temperature": "rollout.temperature", "top_p": "rollout.top_p", "per_device_train_batch_size": "rollout.prompts_per_step",
    "generation_batch_size": "rollout.prompts_per_step", "steps_per_generation": "rollout.prompts_per_step",
    "seed": "seed", "max_steps": "total_steps", "num_train_epochs": "total_steps", "beta": "grpo.kl_coef",
    "epsilon": "grpo.clip_eps", "loss_type": "algorithm", "num_iterations": "optim.epochs", "bf16": "model.dtype",
    "fp16": "model.dtype", "use_cpu": "device", "use_vllm": "rollout.engine", "vllm_mode": "rollout.vllm_server_url",
    "vllm_server_base_url": "rollout.vllm_server_url", "output_dir": "the run directory", "save_steps": "checkpoint_every",
    "save_total_limit": "checkpoint_keep", "eval_steps": "eval_every", "eval_strategy": "eval_every",
    "eval_on_start": "eval_every", "report_to": "the run directory", "logging_steps": "the run directory (every step)",
    "save_strategy": "checkpoint_every", "disable_tqdm": "the run directory", "lr_scheduler_kwargs": "optim.min_lr_ratio",
}


def grpo_config_fields() -> set[str] | None:
    """The field names of trl.GRPOConfig, or None when trl is not installed."""
    import dataclasses

    try:
        from trl import GRPOConfig
    except ImportError:
        return None
    return {f.name for f in dataclasses.fields(GRPOConfig)}


def check_trl(cfg: Config, base_dir: Path, add: Add) -> None:
    """The config rules of engine: trl (engines/__init__.py ENGINES)."""
    import importlib.util

    if cfg.rollout.engine == "vllm" and importlib.util.find_spec("vllm") is None:
        add("rollout.engine", "vLLM is not installed", "pip install 'pacslab[vllm]' (or pip install vllm), or use rollout.engine: transformers")

    fields = grpo_config_fields() if cfg.trl else set()  # importing trl takes seconds: only for a trl section
    if fields is None or importlib.util.find_spec("trl") is None:
        add("engine", "engine: trl needs the trl package, which is not installed",
            "pip install 'pacslab[trl]' (or pip install trl==1.16.0 accelerate), or use engine: native")
        return
    for key in cfg.trl:
        if key in OWNED_FIELDS:
            add(f"trl.{key}", f"GRPOConfig.{key} is set from {OWNED_FIELDS[key]}", f"set {OWNED_FIELDS[key]} instead")
        elif key not in fields:
            add(f"trl.{key}", "not a field of trl.GRPOConfig", "see the fields of trl.GRPOConfig (TRL 1.16) and fix the name")
    o = cfg.optim
    if o.epochs != 1 or o.mini_batch_prompts != cfg.rollout.prompts_per_step:
        add("optim.mini_batch_prompts" if o.epochs == 1 else "optim.epochs",
            "engine: trl makes one optimizer step per rollout batch (the PACS weights are taken at θ_old)",
            f"set optim.epochs: 1 and optim.mini_batch_prompts: {cfg.rollout.prompts_per_step}, or use engine: native")
    algorithm = algorithms.get(cfg.algorithm)
    if algorithm.coupling is not None and not algorithm.coupling.zero_at_old(cfg):
        add("pacs.reward_method", "engine: trl computes ∂L/∂r̂ once per rollout batch, where only logratio's r̂ is 0",
            "use reward_method: logratio, or engine: native")
    if "trl" not in algorithm.engines:
        add("algorithm", f"engine: trl runs {', '.join(algorithms.run_on('trl'))}, not {cfg.algorithm}",
            "choose one of those, or engine: native")
    rows, world = cfg.rollout.prompts_per_step * cfg.rollout.n, world_size(cfg)
    accumulation = int(cfg.trl.get("gradient_accumulation_steps", 1))
    if rows % (world * accumulation):
        add("rollout.prompts_per_step", f"a step's {rows} responses do not split evenly over {world} processes × "
            f"{accumulation} accumulation steps", f"make prompts_per_step × n a multiple of {world * accumulation}")
