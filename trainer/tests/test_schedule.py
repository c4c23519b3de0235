"""The learning-rate schedule (pacslab/schedule.py) and the engines that follow it."""

from __future__ import annotations

import pytest

from pacslab.config import load_config
from pacslab.schedule import lr_at


def test_lr_schedules(write_config):
    cfg = load_config(write_config(total_steps=10, **{"optim.schedule": "warmup_cosine", "optim.warmup_steps": 2,
                                                       "optim.min_lr_ratio": 0.1, "optim.lr": 1.0}))
    assert [lr_at(cfg, s) for s in (1, 2)] == [0.5, 1.0]
    assert lr_at(cfg, 10) == pytest.approx(0.1)
    assert 0.1 < lr_at(cfg, 6) < 1.0
    constant = load_config(write_config(**{"optim.lr": 0.3}))
    assert {lr_at(constant, s) for s in range(1, 5)} == {0.3}


def test_engine_trl_takes_the_native_rate_at_every_optimizer_step(write_config, tmp_path):
    """4 optimizer steps a run step: each takes its run step's rate, as the native engine holds it
    (TRL's own warm-up starts at 0 on the first optimizer step and moves every optimizer step)."""
    from pacslab.engines.trl.run import build_trainer, updates_per_step

    cfg = load_config(write_config(engine="trl", total_steps=6, **{
        "rollout.prompts_per_step": 4, "rollout.n": 2, "optim.mini_batch_prompts": 1, "optim.micro_batch_prompts": 1,
        "optim.schedule": "warmup_cosine", "optim.warmup_steps": 2, "optim.min_lr_ratio": 0.1, "optim.lr": 0.01}))
    trainer = build_trainer(cfg, tmp_path, base_dir=tmp_path)
    updates = updates_per_step(cfg)
    trainer.create_optimizer_and_scheduler(num_training_steps=trainer.args.max_steps)
    rates = []
    for _ in range(trainer.args.max_steps):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert updates == 4 and len(rates) == 24
    assert rates == pytest.approx([lr_at(cfg, k // updates + 1) for k in range(24)], rel=1e-12)
