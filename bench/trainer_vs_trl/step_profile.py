"""Where a pacslab training step's time goes on the CPU, and how much of it arithmetic alone needs.

Runs the trainer in-process on the same settings as bench/trainer_vs_trl/run.py (builtin:arith-tiny,
16 prompts × 8 samples, one optimizer step a step), then:

1. times STEPS steps unprofiled (the step time a user sees; rollout and update from the trainer's own
   perf/* metrics, the rest being the ψ_post pass, verification and the rollout records);
2. profiles STEPS more with torch.profiler and sorts every operator's own CPU time into matrix
   multiplication, attention, the optimizer and all other operators, the remainder of the profiled
   wall time being Python, the autograd engine and the profiler's own cost between operators;
3. profiles STEPS more recording shapes and FLOPs, and re-times every matrix multiplication shape the step ran, alone in a warm loop on the same
   threads: the step's arithmetic floor, the time its matmuls need with no other work at all.

With trainer_vs_trl.json present, the step time that 3× TRL's samples/s would need is set against
that floor. `--compile` also times the same steps with the model's forward under
torch.compile(dynamic=True): the first step (compilation included) and the median after it, the
library route to fusing the operators between matmuls. Writes bench/results/trainer_profile.json.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "trainer"))
from machine import write_result  # noqa: E402
from report import load  # noqa: E402

CONFIG = ROOT / "examples" / "arith.pacs.yaml"
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def category(name: str) -> str:
    if name in MATMUL:
        return "matmul"
    if "scaled_dot_product" in name or "flash_attention" in name:
        return "attention"
    if "adam" in name.lower():
        return "optimizer"
    if name.startswith("aten::"):
        return "other operators"
    return "autograd and profiler records"


def isolated_ms(shape: tuple[tuple[int, ...], ...], op: str, reps: int) -> float:
    """Median time of one `op` at `shape` (its input shapes as the profiler recorded them), warm, in ms."""
    import torch

    tensors = [torch.randn(*s) for s in shape if len(s) >= 2]
    if op == "aten::addmm":
        bias, a, b = torch.randn(*shape[0]), *tensors[-2:]

        def run():
            torch.addmm(bias, a, b)
    elif op == "aten::baddbmm":
        bias, a, b = torch.randn(*shape[0]), *tensors[-2:]

        def run():
            torch.baddbmm(bias, a, b)
    else:
        a, b = tensors[:2]
        fn = torch.bmm if op == "aten::bmm" else torch.mm

        def run():
            fn(a, b)
    for _ in range(5):
        run()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            run()
        times.append((time.perf_counter() - t) / reps * 1000)
    return statistics.median(times)


def new_trainer(cfg, run_dir: Path):
    """The trainer the CLI would build for `cfg`, writing to `run_dir`, quiet."""
    from pacslab.run import files as runio
    from pacslab.engines.native.loop import Trainer

    return Trainer(cfg, run_dir, base_dir=CONFIG.parent, resume=False, events=runio.EventLog(run_dir),
                   info=runio.RunInfo(run_dir), log=lambda _line: None)


def compiled_steps(cfg, args) -> dict:
    """A fresh trainer with `model.forward` under torch.compile(dynamic=True): first step and median step."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        trainer = new_trainer(cfg, Path(tmp))
        trainer.model.forward = torch.compile(trainer.model.forward, dynamic=True)
        walls = []
        for step in range(1, args.warmup + args.steps + 1):
            t = time.perf_counter()
            trainer.train_step(step)
            walls.append(time.perf_counter() - t)
    return {"first_step_s": round(walls[0], 1), "step_ms_median": round(statistics.median(walls[args.warmup:]) * 1000, 2),
            "mode": "torch.compile(model.forward, dynamic=True), inductor defaults, cold cache"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algorithm", default="grpo", choices=["grpo", "pacs", "rloo"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile", action="store_true", help="also time steps under torch.compile (about a minute of compiling)")
    p.add_argument("--out", default="trainer_profile", help="result name in bench/results/")
    args = p.parse_args()
    if args.compile:  # a cold compilation: inductor's on-disk cache would hide most of it on a second run
        cache = tempfile.mkdtemp(prefix="pacs-inductor-")
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache

    import torch
    from torch.profiler import ProfilerActivity, profile

    from pacslab.config import load_config

    sets = [f"algorithm={args.algorithm}", "eval_every=0", "checkpoint_every=0", "device=cpu", "eval.size=8",
            f"seed={args.seed}", "optim.schedule=constant", f"total_steps={args.warmup + 2 * args.steps}"]
    cfg = load_config(CONFIG, sets)
    batch = cfg.rollout.prompts_per_step * cfg.rollout.n
    with tempfile.TemporaryDirectory() as tmp:
        trainer = new_trainer(cfg, Path(tmp))
        threads = torch.get_num_threads()
        step = 0
        for _ in range(args.warmup):
            step += 1
            trainer.train_step(step)
        walls, phases = [], defaultdict(list)
        for _ in range(args.steps):
            step += 1
            t = time.perf_counter()
            values = trainer.train_step(step)
            walls.append(time.perf_counter() - t)
            phases["rollout"].append(values["perf/rollout_s"])
            phases["update"].append(values["perf/update_s"])
            phases["other"].append(walls[-1] - values["perf/rollout_s"] - values["perf/update_s"])
        # Two profiled passes: a plain one for the time split (recording shapes costs more per
        # operator than the small operators themselves), then one with shapes and FLOPs.
        t = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step += 1
                trainer.train_step(step)
        profiled_wall = time.perf_counter() - t
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as shaped:
            for _ in range(args.steps):
                step += 1
                trainer.train_step(step)

    by_category: dict[str, float] = defaultdict(float)
    for evt in prof.key_averages():
        by_category[category(evt.key)] += evt.self_cpu_time_total / 1000 / args.steps  # ms per step
    flops = sum(evt.flops or 0 for evt in shaped.key_averages()) / args.steps
    shapes: dict[tuple[str, tuple], int] = defaultdict(int)
    for evt in shaped.key_averages(group_by_input_shape=True):
        if evt.key in MATMUL and evt.input_shapes:
            shapes[(evt.key, tuple(tuple(s) for s in evt.input_shapes))] += evt.count
    matmul_floor_ms, shape_rows = 0.0, []
    for (op, shape), count in sorted(shapes.items(), key=lambda kv: -kv[1]):
        ms = isolated_ms(shape, op, reps=50)
        per_step = count / args.steps
        matmul_floor_ms += ms * per_step
        shape_rows.append({"op": op, "shapes": [list(s) for s in shape], "calls_per_step": per_step, "isolated_ms": round(ms, 4)})

    step_ms = statistics.median(walls) * 1000
    ops_ms = sum(by_category.values())
    profiled_ms = profiled_wall / args.steps * 1000
    shares = {k: round(v, 2) for k, v in sorted(by_category.items(), key=lambda kv: -kv[1])}
    shares["python, autograd engine and profiler between operators"] = round(profiled_ms - ops_ms, 2)
    data = {
        "benchmark": "trainer_profile",
        "description": "where one pacslab step's time goes on the CPU (torch.profiler) and its matmul arithmetic floor",
        "model": "builtin:arith-tiny",
        "algorithm": args.algorithm,
        "threads": threads,
        "batch": {"prompts": cfg.rollout.prompts_per_step, "samples_per_prompt": cfg.rollout.n,
                  "max_new_tokens": cfg.rollout.max_new_tokens},
        "step_ms_median": round(step_ms, 2),
        "phases_ms_median": {k: round(statistics.median(v) * 1000, 2) for k, v in phases.items()},
        "profiled_step_ms": round(profiled_ms, 2),
        "ms_per_step_by_category": shares,
        "matmul_gflop_per_step": round(flops / 1e9, 3),
        "matmul_floor_ms": round(matmul_floor_ms, 2),
        "matmul_floor_samples_per_s": round(batch / (matmul_floor_ms / 1000), 1),
        "matmul_shapes": shape_rows,
        "steps": {"warmup": args.warmup, "timed": args.steps, "profiled": args.steps, "profiled_with_shapes": args.steps},
    }
    if args.compile:
        data["compiled"] = compiled_steps(cfg, args)
    trl = load("trainer_vs_trl")
    if trl is not None:
        target = trl.get("target_ratio", 3.0)
        needed_ms = batch / (target * trl["trl"]["samples_per_s"]) * 1000
        data["target"] = {
            "trl_samples_per_s": trl["trl"]["samples_per_s"],
            "trl_measured": trl["machine"]["date"],
            "ratio": target,
            "step_ms_needed": round(needed_ms, 2),
            "left_for_everything_but_matmul_ms": round(needed_ms - matmul_floor_ms, 2),
            "everything_but_matmul_now_ms": round(step_ms - matmul_floor_ms, 2),
        }
    path = write_result(args.out, data)
    print(f"step {step_ms:.1f} ms on {threads} thread(s); matmul floor {matmul_floor_ms:.1f} ms "
          f"({data['matmul_gflop_per_step']} GFLOP); by category {shares}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
