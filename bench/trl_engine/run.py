"""engine: trl against stock TRL GRPOTrainer and against the native engine on the CPU, one process.

Every side trains from the same config (the embedded default: builtin:arith-tiny, arith data, the
verifier's reward, one step = 8 prompts × 8 samples, the same steps and seed), on one CPU thread:
`stock` is trl.GRPOTrainer as it is, built by `pacslab.engines.trl.run.trainer_inputs`;
`pacs_loss` is PacsGRPOTrainer (the PACS loss with its labels, group ids and ∂L/∂r̂); `pacs` is that
plus PacsLabCallback writing a run directory, i.e. `engine: trl` as a user runs it; `native` is the
same config with `engine: native` through `pacslab.engines.native.loop.run_training`, the function behind
`python -m pacslab train`, writing its run directory. A step's time is the gap between consecutive
step ends (TRL's `on_step_end`, the native engine's per-step report); each side runs WARMUP untimed
and STEPS timed steps, in rounds that alternate the order so that other load on the machine falls
on every side alike.

PYTHONPATH=trainer .venv/bin/python bench/trl_engine/run.py [--steps 12] [--warmup 3] [--rounds 10]
writes bench/results/trl_engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
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

from pacslab.run import files as runio  # noqa: E402
from pacslab.config import load_config  # noqa: E402
from pacslab.engines.trl.run import add_run_callback, build_trainer, trainer_inputs  # noqa: E402
from pacslab.engines.native.loop import run_training  # noqa: E402
from pacslab.run.lifecycle import prepare_run_dir  # noqa: E402

CONFIG = """
name: bench
device: cpu
engine: trl
seed: 0
checkpoint_every: 1000
eval_every: 0
eval: {size: 8, samples: 1, k: [1]}  # the native engine's evaluations before and after (not timed), kept short
rollout: {prompts_per_step: 8, n: 8, max_new_tokens: 8}
optim: {mini_batch_prompts: 8, micro_batch_prompts: 8}
task: {arith: {digits: 2}}
"""


SIDES = ("stock", "pacs_loss", "pacs", "native")  # pacs_loss: PacsGRPOTrainer without the run directory


class StepTimes(TrainerCallback):
    """Seconds between consecutive step ends, and each step's mean completion length as TRL logs it."""

    def __init__(self):
        self.times: list[float] = []
        self.lengths: list[float] = []
        self.last = None

    def mark(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.times.append(now - self.last)
        self.last = now

    def on_step_end(self, args, state, control, **kwargs):
        self.mark()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "completions/mean_length" in logs:
            self.lengths.append(logs["completions/mean_length"])


def trl_side(name: str, cfg, run_dir: Path, work: Path) -> StepTimes:
    if name == "stock":
        trainer = GRPOTrainer(**trainer_inputs(cfg, run_dir, base_dir=work))
    else:
        trainer = build_trainer(cfg, run_dir, base_dir=work)
    if name == "pacs":
        add_run_callback(trainer, cfg, run_dir)
    timer = StepTimes()
    trainer.add_callback(timer)
    trainer.train()
    return timer


def native_side(cfg, run_dir: Path, work: Path) -> StepTimes:
    timer = StepTimes()
    prepare_run_dir(cfg, config_path=None, run_dir=run_dir, runs_root=work, resume=False, base_dir=work)
    code = run_training(cfg, run_dir, base_dir=work, log=lambda _line: None, on_step=lambda _step, _line: timer.mark())
    if code != 0:
        raise RuntimeError(f"the native engine exited with {code}: {runio.RunInfo(run_dir).get('error')}")
    events, _ = runio.read_jsonl(run_dir / runio.EVENTS)
    timer.lengths = [e["values"]["response/length_mean"] for e in events
                     if e.get("type") == "metrics" and "response/length_mean" in e.get("values", {})]
    return timer


def side(name: str, configs: dict, work: Path, warmup: int) -> tuple[list[float], list[float]]:
    """The timed steps' seconds and mean response lengths of one side's run."""
    run_dir = work / f"{name}-{time.monotonic_ns()}"
    run_dir.mkdir()
    timer = native_side(configs["native"], run_dir, work) if name == "native" else trl_side(name, configs["trl"], run_dir, work)
    return timer.times[warmup:], timer.lengths[warmup + 1:]


def summary(times: list[float], lengths: list[float], samples_per_step: int) -> dict:
    return {"samples_per_s": round(samples_per_step * len(times) / sum(times), 2),
            "step_s_median": round(statistics.median(times), 4), "timed_steps": len(times),
            "completion_length_mean": round(statistics.fmean(lengths), 2) if lengths else None,
            "step_times": [round(t, 4) for t in times]}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench.pacs.yaml").write_text(CONFIG)
        total = [f"total_steps={args.warmup + args.steps + 1}"]
        configs = {"trl": load_config(work / "bench.pacs.yaml", total),
                   "native": load_config(work / "bench.pacs.yaml", [*total, "engine=native"])}
        samples_per_step = configs["trl"].rollout.prompts_per_step * configs["trl"].rollout.n
        times: dict[str, list[float]] = {name: [] for name in SIDES}
        lengths: dict[str, list[float]] = {name: [] for name in SIDES}
        rounds: dict[str, list[float]] = {name: [] for name in SIDES}
        for r in range(args.rounds):
            for name in (SIDES if r % 2 == 0 else SIDES[::-1]):
                t, n = side(name, configs, work, args.warmup)
                times[name] += t
                lengths[name] += n
                rounds[name].append(round(statistics.median(t), 4))
    sides = {name: {**summary(times[name], lengths[name], samples_per_step), "step_s_median_by_round": rounds[name]}
             for name in SIDES}
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "benchmark": "trl_engine",
        "model": "builtin:arith-tiny", "task": "arith, 2 digits",
        "batch": {"prompts": configs["trl"].rollout.prompts_per_step, "samples_per_prompt": configs["trl"].rollout.n,
                  "max_new_tokens": configs["trl"].rollout.max_new_tokens},
        "steps": {"warmup": args.warmup, "timed_per_round": args.steps, "rounds": args.rounds},
        "threads": torch.get_num_threads(), "algorithm": configs["trl"].algorithm,
        "sides": sides, "median_step_s": median,
        "overhead_loss": median["pacs_loss"] / median["stock"] - 1,
        "overhead": median["pacs"] / median["stock"] - 1, "target": "overhead within 10%",
        "ratio_native_vs_trl_engine": round(sides["native"]["samples_per_s"] / sides["pacs"]["samples_per_s"], 2),
        "ratio_native_vs_stock_trl": round(sides["native"]["samples_per_s"] / sides["stock"]["samples_per_s"], 2),
        "load_average_before": before, "load_average_after": load_average(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "sides"}, indent=2))
    print(f"wrote {write_result('trl_engine', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
