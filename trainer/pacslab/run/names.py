"""Metric names: the other trainers' names that mean the same as one of ours (docs/interop.md lists
them), TRL's logs under our names, and chat messages as text. The TRL engine, the TRL callback and
the importers all read these tables; a name not in a table is kept as the source wrote it."""

from __future__ import annotations

import math
from typing import Any

# TRL's GRPOTrainer (trainer_state.json log_history; TensorBoard tags are these under `train/`)
TRL = {
    "reward": "reward/mean",
    "reward_std": "reward/std",
    "grad_norm": "optim/grad_norm",
    "learning_rate": "optim/lr",
    "entropy": "policy/entropy",
    "completions/mean_length": "response/length_mean",
    "completions/max_length": "response/length_max",
    "completions/clipped_ratio": "response/truncated_frac",
    "step_time": "perf/step_s",
}

# verl's PPO/GRPO trainer (its tracking logger's keys, also its TensorBoard tags)
VERL = {
    "critic/rewards/mean": "reward/mean",
    "actor/grad_norm": "optim/grad_norm",
    "actor/lr": "optim/lr",
    "actor/entropy": "policy/entropy",
    "response_length/mean": "response/length_mean",
    "response_length/max": "response/length_max",
    "response_length/clip_ratio": "response/truncated_frac",
    "timing_s/step": "perf/step_s",
}

TABLES = {"trl": TRL, "verl": VERL}
LOSS = {"trl": "loss", "verl": "actor/pg_loss"}

# the prefixes of our own names, which TRL's logs keep as they are (PacsGRPOTrainer logs some)
KEPT_PREFIXES = ("reward/", "pacs/", "critic/", "eval/", "perf/", "optim/", "policy/", "response/", "grpo/", "rloo/")


def metric_names(logs: dict[str, Any], loss_metric: str, *, finite: bool = True) -> dict[str, float | None]:
    """TRL's log values under the native engine's names; TRL's loss is `loss_metric` unless the
    trainer logged that itself, and every other TRL value goes under `trl/`. A nonfinite value is
    None, or kept as it is with `finite` False (for the alert rules, pacslab/health)."""
    values: dict[str, float | None] = {}
    for key, value in logs.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key == "loss":
            name = "trl/loss" if loss_metric in logs else loss_metric
        elif key in TRL:
            name = TRL[key]
        elif key.startswith(KEPT_PREFIXES):
            name = key
        else:
            name = f"trl/{key}"
        values[name] = float(value) if math.isfinite(value) or not finite else None
    return values


def chat_text(value: Any) -> str:
    """A prompt or completion as the text a verifier and a rollout record see: chat messages are
    joined by their contents, one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in value)
    return str(value)
