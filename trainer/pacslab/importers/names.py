"""The metric names of other trainers that mean the same as one of ours (docs/interop.md lists
them). A name not in a table is kept as the source wrote it."""

from __future__ import annotations

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


def guess_trainer(tags: set[str]) -> str:
    """Which trainer wrote a TensorBoard log, from its tags ("tensorboard" when none is known)."""
    if any(t.startswith(("critic/rewards/", "actor/pg_loss", "timing_s/")) for t in tags):
        return "verl"
    if {"train/reward", "train/loss"} & tags or {"reward", "reward_std"} <= tags:
        return "trl"
    return "tensorboard"


def our_name(trainer: str, tag: str) -> tuple[str, bool]:
    """(our metric name, whether it is an evaluation) of a source tag."""
    if trainer == "trl":
        if tag.startswith("eval/") or tag.startswith("eval_"):
            return f"eval/{tag[5:]}", True
        tag = tag.removeprefix("train/")
    if trainer == "verl" and tag.startswith(("val-core/", "val-aux/", "val/")):
        return f"eval/{tag}", True
    return TABLES.get(trainer, {}).get(tag, tag), False
