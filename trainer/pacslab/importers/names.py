"""The metric names of other trainers that mean the same as one of ours (docs/interop.md lists
them). A name not in a table is kept as the source wrote it."""

from __future__ import annotations

from pacslab.run.names import LOSS, TABLES  # noqa: F401 - LOSS: read by importers/tensorboard.py


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
