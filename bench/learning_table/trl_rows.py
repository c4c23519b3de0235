"""The learning table's PACS and GRPO rows on `engine: trl`: the same runs as run.py (its
`train`, examples/arith.pacs.yaml with the same overrides, 4 optimizer steps per rollout batch,
five seeds) plus `engine=trl` on one process, compared with the native rows of
bench/results/learning.json (run.py's). Writes bench/results/learning_trl.md and learning_trl.json.

The two engines sample with different generators (TRL's sampling against pacslab's), so seed s
of one engine is not seed s of the other: the comparison is of the two rows' means (Welch's t),
not paired.

    python bench/learning_table/trl_rows.py [--seeds 0,1,2,3,4] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as table  # noqa: E402  (run.py beside this file)
from machine import RESULTS, machine, write_result  # noqa: E402
from stats import summary, two_sided_p  # noqa: E402

ROWS = {"PACS": "PACS (engine: trl)", "GRPO": "GRPO (engine: trl)"}
DIFFERENCES = ("The engines take the same learning rate at every optimizer step (pacslab/schedule.py; "
               "trainer/tests/test_schedule.py), the same PACS gradient at every mini-batch "
               "(trainer/tests/engines/trl/test_minibatches.py) and the same GRPO token mean "
               "(trainer/tests/engines/trl/test_trainer.py), with the same AdamW (betas, eps 1e-8, no weight decay), "
               "gradient clipping at 1 and no accumulation here. They still differ in the sampler (TRL's `generate` "
               "against pacslab's own decoder: different random streams, so different prompts and rollouts from the "
               "same seed) and the order of groups into mini-batches (shuffled on engine: trl, sampling order natively).")


def welch(xs: list[float], ys: list[float]) -> dict:
    """mean(xs) − mean(ys) and Welch's two-sided p."""
    vx, vy = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    diff = statistics.fmean(xs) - statistics.fmean(ys)
    if vx + vy == 0:
        return {"diff": diff, "p": 1.0 if diff == 0 else 0.0}
    df = (vx + vy) ** 2 / (vx ** 2 / (len(xs) - 1) + vy ** 2 / (len(ys) - 1))
    return {"diff": diff, "p": two_sided_p(abs(diff) / math.sqrt(vx + vy), max(1, round(df)))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--mini-batches", type=int, default=4)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--work", type=Path, default=table.BENCH / ".work" / "learning-trl")
    args = p.parse_args()
    native = json.loads((RESULTS / "learning.json").read_text())
    if (native["steps"], native["updates_per_step"]) != (args.steps, args.mini_batches):
        p.error(f"learning.json has {native['steps']} steps × {native['updates_per_step']} updates; run the same")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    config = args.work / table.CONFIG.name
    shutil.copyfile(table.CONFIG, config)
    import yaml

    prompts = (yaml.safe_load(config.read_text()).get("rollout") or {}).get("prompts_per_step", 16)
    mini = prompts // args.mini_batches
    for method, row in ROWS.items():
        table.METHODS[row] = [*table.METHODS[method], "engine=trl"]
        table.SLUG[row] = f"{table.SLUG[method]}-trl"
    jobs = [(row, s) for s in seeds for row in ROWS.values()]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        dirs = dict(zip(jobs, pool.map(lambda job: table.train(job[0], job[1], args.steps, mini, args.work, None, config),
                                       jobs)))
    rows: dict[str, dict] = {}
    for (row, _), run_dir in dirs.items():
        last = table.evals(run_dir)[-1][1]
        cell = rows.setdefault(row, {"accuracy": [], "pass@8": []})
        cell["accuracy"].append(last["eval/accuracy"])
        cell["pass@8"].append(last["eval/pass@8"])
    result = {}
    for method, row in ROWS.items():
        result[row] = {metric: {**summary(rows[row][metric]),
                                "vs_native": welch(rows[row][metric], native["table"][method][metric]["values"])}
                       for metric in ("accuracy", "pass@8")}
    m = machine()
    lines = ["# Learning table: engine: trl rows", "",
             f"The same runs as the table above ({args.steps} steps, {args.mini_batches} optimizer steps per rollout batch, "
             f"seeds {args.seeds}) on `engine: trl` (TRL's GRPOTrainer, one process; PACS exact at the current θ in every "
             "mini-batch), against the native rows. The engines sample with different generators, so their seeds are not "
             "paired: the difference is of the means, with Welch's p.", "",
             "| method | greedy accuracy (%) | pass@8 (%) | trl − native, accuracy (points, p) | trl − native, pass@8 |",
             "|---|---|---|---|---|"]
    for row, cell in result.items():
        a, k = cell["accuracy"], cell["pass@8"]
        lines.append(f"| {row} | {table.fmt(a)} | {table.fmt(k)} | {100 * a['vs_native']['diff']:+.1f}, p = "
                     f"{a['vs_native']['p']:.2f} | {100 * k['vs_native']['diff']:+.1f}, p = {k['vs_native']['p']:.2f} |")
    lines += ["", DIFFERENCES,
              "", f"Measured {m['date']} on {m['cpu_model']} ({m['cores']} cores, shared with other work), torch {m['torch']}, "
              f"commit {str(m['git_commit'])[:10]}{' (dirty tree)' if m['git_dirty'] else ''}; "
              "bench/learning_table/trl_rows.py. Per-seed values in learning_trl.json.", ""]
    (RESULTS / "learning_trl.md").write_text("\n".join(lines))
    write_result("learning_trl", {"benchmark": "learning_table_trl", "seeds": seeds, "steps": args.steps,
                                  "updates_per_step": args.mini_batches, "table": result})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
