"""engine: trl against stock TRL GRPOTrainer on the CPU: the cost of our loss, callback and records.

Both sides are built from the same config by `pacslab.engines.trl.run.trainer_inputs` (the same
builtin:arith-tiny policy, arith data, verifier reward, GRPOConfig, batch and seed), one process:
`stock` is trl.GRPOTrainer as it is; `pacs_loss` is PacsGRPOTrainer (the PACS loss with its
labels, group ids and ∂L/∂r̂); `pacs` is that plus PacsLabCallback writing a run directory. A step's
time is the gap between consecutive `on_step_end`s; each side runs WARMUP untimed and STEPS timed
steps, in rounds that alternate the order so that other load on the machine falls on both alike.

PYTHONPATH=trainer .venv/bin/python bench/trl_engine/run.py [--steps 6] [--warmup 2] [--rounds 2]
writes bench/results/trl_engine.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
from machine import write_result  # noqa: E402

from pacslab.config import load_config  # noqa: E402
from pacslab.engines.trl.run import add_run_callback, build_trainer, trainer_inputs  # noqa: E402

CONFIG = """
name: bench
device: cpu
engine: trl
seed: 0
checkpoint_every: 1000
rollout: {prompts_per_step: 8, n: 8, max_new_tokens: 8}
optim: {mini_batch_prompts: 8, micro_batch_prompts: 8}
task: {arith: {digits: 2}}
"""


SIDES = ("stock", "pacs_loss", "pacs")  # pacs_loss: PacsGRPOTrainer without the run directory


class StepTimes(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []
        self.last = None

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self.last is not None:
            self.times.append(now - self.last)
        self.last = now


def side(name: str, cfg, work: Path) -> list[float]:
    run_dir = work / f"{name}-{time.monotonic_ns()}"
    run_dir.mkdir()
    if name == "stock":
        trainer = GRPOTrainer(**trainer_inputs(cfg, run_dir, base_dir=work))
    else:
        trainer = build_trainer(cfg, run_dir, base_dir=work)
    if name == "pacs":
        add_run_callback(trainer, cfg, run_dir)
    timer = StepTimes()
    trainer.add_callback(timer)
    trainer.train()
    return timer.times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench.pacs.yaml").write_text(CONFIG)
        cfg = load_config(work / "bench.pacs.yaml", [f"total_steps={args.warmup + args.steps + 1}"])
        times = {name: [] for name in SIDES}
        for r in range(args.rounds):
            for name in (SIDES if r % 2 == 0 else SIDES[::-1]):
                times[name] += side(name, cfg, work)[args.warmup:]
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {"steps_timed": {k: len(v) for k, v in times.items()}, "median_step_s": median,
              "overhead_loss": median["pacs_loss"] / median["stock"] - 1,
              "overhead": median["pacs"] / median["stock"] - 1, "target": "overhead within 10%"}
    print(json.dumps(result, indent=2))
    print(f"wrote {write_result('trl_engine', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
