"""Evaluation under `engine: trl`: the native engine's eval sets, values and schedule, shared out over the processes.

The unit of work is one generation batch (eval.batch_prompts prompts) of one set, dealt to the
ranks in turn. Each batch samples from its own generator (evaluate.chunk_generator) and is decoded
exactly as in one process, so the gathered values equal a 1-process evaluation of the same weights
for any number of processes. Every rank joins the one all_gather at the end, so a rank waits in a
collective only for the others' last batch; control commands are read at the next step end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.distributed as dist
from transformers import TrainerCallback

from pacslab.evaluate import EvalSet, chunk_generator, evaluate_sets


@dataclass(frozen=True)
class Evaluation:
    """What `PacsGRPOTrainer.evaluate` evaluates: the eval sets (examples encoded), the verifier and
    the config's eval_every (0: only at step 0 and after the last step, as the native engine)."""

    sets: list[EvalSet]
    verifier: Callable
    every: int


def evaluate_shared(model, tokenizer, sets: list[EvalSet], verifier, *, seed: int, step: int, rank: int = 0,
                    world: int = 1, examples: list[dict] | None = None) -> dict[str, float]:
    """`evaluate_sets` shared out over the processes, each generation batch drawing from its own
    `chunk_generator`; with `world` > 1 every rank must call it (one all_gather_object)."""
    device = next(model.parameters()).device
    return evaluate_sets(model, tokenizer, sets, verifier, generators=lambda i, c: chunk_generator(device, seed, step, i, c),
                         rank=rank, world=world, gather=lambda mine: _gathered(mine, world), examples=examples)


def _gathered(obj, world: int) -> list:
    if world == 1:
        return [obj]
    parts = [None] * world
    dist.all_gather_object(parts, obj)
    return parts


class EvalSchedule(TrainerCallback):
    """Evaluates where the native engine does: at step 0 of a run that has not trained yet, every
    `trainer.evaluation.every` steps and after the last step. Add it after the PacsLabCallback that
    writes the events."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.every = trainer.evaluation.every * getattr(trainer, "updates_per_step", 1)  # in TRL's (optimizer) steps

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:
            self.trainer.evaluate()

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if step >= state.max_steps or (self.every and step % self.every == 0):
            control.should_evaluate = True
        return control
