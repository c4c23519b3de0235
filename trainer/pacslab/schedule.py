"""The learning-rate schedule of a run, one definition for every engine: the rate of each step
(one rollout batch), held across that step's optimizer steps."""

from __future__ import annotations

import math

from pacslab.config import Config


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate of 1-based `step`: constant, or linear warm-up then cosine to lr·min_lr_ratio."""
    o = cfg.optim
    if o.schedule == "constant":
        return o.lr
    if step <= o.warmup_steps:
        return o.lr * step / max(1, o.warmup_steps)
    progress = (step - o.warmup_steps) / max(1, cfg.total_steps - o.warmup_steps)
    return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
