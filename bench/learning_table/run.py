"""The paper's table in miniature, in the paper's update regime: base, GRPO, RLOO, PACS and PACS
without class weights on the embedded default (builtin:arith-tiny, 2-digit addition), five seeds
each, the same steps and samples for every method, and MINI_BATCHES optimizer steps per rollout
batch (the paper's 1024 samples in mini-batches of 256 is 4), so θ leaves θ_old within a step and
the methods take different steps. Held-out greedy accuracy and pass@8 (mean ± std and a 95%
interval over seeds) and a paired comparison of PACS against each other row go to
bench/results/learning.md and learning.json.

Every run is `python -m pacslab train examples/arith.pacs.yaml` with `--set` overrides only for
the method, the seed, the step budget and the mini-batch size (plus eval_every=0: evaluation
before the first step and at the end). The base row is each seed's evaluation before the first
step (the same model; the pass@8 samples depend on the seed).

    python bench/learning_table/run.py [--seeds 0,1,2,3,4] [--steps 80] [--mini-batches 4] [--jobs 2] [--reuse]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from machine import RESULTS, machine, write_result  # noqa: E402
from stats import paired, summary  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
CONFIG = ROOT / "examples" / "arith.pacs.yaml"
METHODS = {  # row label: overrides
    "GRPO": ["algorithm=grpo"],
    "RLOO": ["algorithm=rloo"],
    "PACS": ["algorithm=pacs"],
    "PACS w/o class weights": ["algorithm=pacs", "pacs.weight_mode=none"],
}
SLUG = {"GRPO": "grpo", "RLOO": "rloo", "PACS": "pacs", "PACS w/o class weights": "pacs-noweight"}


def evals(run_dir: Path) -> list[tuple[int, dict]]:
    out = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        # format 2 writes evaluations as `eval` events; format 1 as `metrics` events
        if event.get("type") in ("eval", "metrics") and "eval/accuracy" in event.get("values", {}):
            out.append((event["step"], event["values"]))
    return out


def finished_with(run_dir: Path, sets: list[str]) -> bool:
    """Whether run_dir is a finished run whose saved config has every `key=value` of `sets`."""
    import yaml

    try:
        info = json.loads((run_dir / "run.json").read_text())
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return False
    for item in sets:
        key, _, value = item.partition("=")
        node = saved
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if str(node) != str(yaml.safe_load(value)):
            return False
    return info.get("status") == "finished"


def train(method: str, seed: int, steps: int | None, mini: int, work: Path, model: Path | None, config: Path,
          reuse: bool = False) -> Path:
    run_dir = work / f"{SLUG[method]}-seed{seed}{'' if steps is None else f'-steps{steps}'}-mini{mini}"
    sets = [*METHODS[method], f"seed={seed}", "eval_every=0", "checkpoint_every=0",
            f"optim.mini_batch_prompts={mini}", f"optim.micro_batch_prompts={mini}"]
    if steps is not None:
        sets.append(f"total_steps={steps}")
    if model is not None:
        sets.append(f"model.path={model.resolve()}")
    if reuse and finished_with(run_dir, sets):
        print(f"{method} seed {seed}: reused {run_dir}", flush=True)
        return run_dir
    # Otherwise a fresh run: a folder left here may come from another config or another trainer.
    subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    cmd = ["nice", "-n", "5", str(PY), "-m", "pacslab", "train", str(config), "--run-dir", str(run_dir)]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} seed {seed} failed ({proc.returncode}); see {run_dir}/run.json:\n{proc.stderr[-2000:]}")
    print(f"{method} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return run_dir


def fmt(cell: dict) -> str:
    lo, hi = cell["ci95"]
    return f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def fmt_paired(cell: dict) -> str:
    d = cell["diff"]
    lo, hi = d["ci95"]
    return (f"{100 * d['mean']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}], p = {cell['p']:.2f}, "
            f"{cell['wins']}/{cell['ties']}/{cell['losses']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=80,
                   help="total_steps for every run (80: 320 updates, and the table fits in about 40 minutes of one core; 0 = the config's own)")
    p.add_argument("--mini-batches", type=int, default=4, help="optimizer steps per rollout batch (the paper's 1024/256 = 4)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (each with OMP_NUM_THREADS=1)")
    p.add_argument("--model", type=Path, help="a model directory instead of builtin:arith-tiny (for trying the harness)")
    p.add_argument("--work", type=Path, default=BENCH / ".work" / "learning")
    p.add_argument("--reuse", action="store_true",
                   help="keep finished runs whose saved config matches (resumes an interrupted table; only when neither "
                        "examples/arith.pacs.yaml nor the trainer changed since)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    steps = args.steps or None
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    # Every run of this invocation trains the same copy of the config, even if examples/arith.pacs.yaml changes meanwhile.
    config = args.work / CONFIG.name
    shutil.copyfile(CONFIG, config)
    config_sha = hashlib.sha256(config.read_bytes()).hexdigest()[:12]
    import yaml

    cfg_yaml = yaml.safe_load(config.read_text())
    optim, rollout = cfg_yaml.get("optim") or {}, cfg_yaml.get("rollout") or {}
    prompts = rollout.get("prompts_per_step", 16)
    if args.mini_batches < 1 or prompts % args.mini_batches:
        p.error(f"--mini-batches {args.mini_batches} must divide rollout.prompts_per_step ({prompts}) in {CONFIG}")
    mini = prompts // args.mini_batches
    updates_per_step = args.mini_batches * optim.get("epochs", 1)
    jobs = [(m, s) for s in seeds for m in METHODS]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        dirs = dict(zip(jobs, pool.map(lambda job: train(job[0], job[1], steps, mini, args.work, args.model, config, args.reuse), jobs)))
    rows: dict[str, dict] = {}
    base_acc, base_pass = [], []
    config_steps = None
    for (method, seed), run_dir in dirs.items():
        history = evals(run_dir)
        first, last = history[0], history[-1]
        config_steps = last[0]
        if method == "PACS":
            base_acc.append(first[1]["eval/accuracy"])
            base_pass.append(first[1]["eval/pass@8"])
        row = rows.setdefault(method, {"accuracy": [], "pass@8": [], "runs": []})
        row["accuracy"].append(last[1]["eval/accuracy"])
        row["pass@8"].append(last[1]["eval/pass@8"])
        row["runs"].append(str(run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir))
    per_seed = {"Base": {"accuracy": base_acc, "pass@8": base_pass}} | rows
    table = {"Base": {"accuracy": summary(base_acc), "pass@8": summary(base_pass), "steps": 0}}
    for method, row in rows.items():
        table[method] = {"accuracy": summary(row["accuracy"]), "pass@8": summary(row["pass@8"]), "steps": config_steps, "runs": row["runs"]}
    comparison = {other: {metric: paired(per_seed["PACS"][metric], per_seed[other][metric]) for metric in ("accuracy", "pass@8")}
                  for other in per_seed if other != "PACS"}
    m = machine()
    arith = (cfg_yaml.get("task") or {}).get("arith") or {}
    one_update = updates_per_step == 1
    budget = ("the default config's step budget" if steps is None
              else f"the default config has {cfg_yaml.get('total_steps')}; {steps} keeps the table within about 40 minutes of one core")
    task = f"{arith.get('digits')}-digit {'/'.join(arith.get('ops') or [])}, {arith.get('eval_size')} held-out problems"
    lines = [
        "# Learning table: the paper's comparison in miniature",
        "",
        f"builtin:arith-tiny on the default task ({task}), {len(seeds)} seeds ({args.seeds}), "
        f"{config_steps} steps of {prompts} prompts × {rollout.get('n', 8)} samples each ({budget}), "
        f"**{updates_per_step} optimizer step{'s' if updates_per_step > 1 else ''} per rollout batch** "
        f"(mini-batches of {mini} prompts); every other setting is examples/arith.pacs.yaml's "
        f"(the copy the runs trained, sha256 {config_sha}). "
        "Held-out greedy accuracy and pass@8 (8 samples at temperature 1, unbiased estimator), in %, "
        "mean ± std over seeds [95% interval of the mean, Student t]. Base = the model before the first step.",
        "",
        "| method | greedy accuracy (%) | pass@8 (%) |",
        "|---|---|---|",
        *[f"| {name} | {fmt(cell['accuracy'])} | {fmt(cell['pass@8'])} |" for name, cell in table.items()],
        "",
        "PACS against each row, seed by seed (the same seed trains on the same prompts): mean difference in points "
        "[95% interval], paired t-test p, and seeds PACS wins/ties/loses.",
        "",
        "| PACS − | greedy accuracy | pass@8 |",
        "|---|---|---|",
        *[f"| {other} | {fmt_paired(cell['accuracy'])} | {fmt_paired(cell['pass@8'])} |" for other, cell in comparison.items()],
        "",
        *(["With one update per step (one mini-batch, one epoch: the default), the first and only update of a step is taken at "
           "θ = θ_old, where ψ = 0 and σ(ψ) = 0.5; there PACS's gradient on log π(o_i,t) is (β/N)·(c_i − mean of the other c_j "
           "in the group) with c_i = w_i·(0.5 − R_i), and without class weights (w = 1) that is −(β/N)·(R_i − mean of the other "
           "R_j): RLOO's gradient times a constant, which Adam "
           "cancels up to ε and gradient clipping. So the two take the same steps until clipping or ε tells them apart, and from "
           "there sampling amplifies the difference: over a short run their rows coincide, over a long one they differ by about "
           "the seed-to-seed spread. More updates per step (epochs > 1 or several "
           "mini-batches) would separate them.", ""] if one_update else []),
        f"Measured {m['date']} on {m['cpu_model']} ({m['cores']} cores, shared with other work), torch {m['torch']}, "
        f"commit {str(m['git_commit'])[:10]}{' (dirty tree)' if m['git_dirty'] else ''}; `make bench` → bench/learning_table/run.py. "
        "Per-seed values in learning.json.",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "learning.md").write_text("\n".join(lines))
    write_result("learning", {"benchmark": "learning_table", "seeds": seeds, "steps": config_steps,
                              "steps_override": steps, "updates_per_step": updates_per_step,
                              "mini_batch_prompts": mini, "config_sha256_12": config_sha,
                              "table": table, "pacs_vs": comparison})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
