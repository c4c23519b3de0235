"""pacslab (grpo and pacs) against TRL's GRPOTrainer on the embedded default, on the CPU, in one run.

Both sides train builtin:arith-tiny on the default arith task with one step = 16 prompts × 8
samples and the same max new tokens, lr, clipping and seed. Each side runs WARMUP untimed steps,
then STEPS timed steps; the sides are interleaved (round 1: grpo, trl, grpo on torch's default threads, trl1, pacs;
round 2 the reverse) so that load from other processes on a shared machine falls on all of them alike.

pacslab is timed by its own CLI as a user runs it (`python -m pacslab train`): a step's time is the
gap between consecutive `metrics` events in events.jsonl, so it includes the rollout, the old
log-prob pass, the update, the critic pass and writing the step's rollouts file. TRL is timed by a
callback between consecutive `on_step_end`s. samples/s = timed samples / timed seconds.
pacslab runs a small step (under 10¹⁰ parameters × response tokens) on one CPU thread (its documented choice); TRL runs
with torch's default threads ("trl", the peer as a user gets it) and again with OMP_NUM_THREADS=1
("trl1", the same thread choice), and pacslab GRPO runs again with OMP_NUM_THREADS set to torch's
default ("grpoT"), so each side is also compared with the other at the same thread count.

`--shape realistic` (realistic_shape.py) is the same comparison at the proportions of real RLVR:
a 10M-parameter random-init Qwen2 with a byte-level tokenizer, 64-token prompts, 256-token
responses, 8 prompts × 8 samples, fp32 on both sides. Sides (`--sides`): grpo and trl (each at its
default: for pacslab torch's default threads, as this step's work is above its one-thread limit;
TRL torch's default threads), grpo1 and trl1 (both on one thread), trlM (TRL at its default with
pacslab's CPU allocator setting), grpoT (pacslab with OMP_NUM_THREADS set to torch's default; not
in the default set); with the machine's load average before and after. Result:
trainer_vs_trl_realistic.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import write_result  # noqa: E402

VENV_PY = ROOT / ".venv" / "bin" / "python"
CONFIG = ROOT / "examples" / "arith.pacs.yaml"


def pacslab_times(algorithm: str, args, work: Path, tag: str, threads: int | None = None) -> dict:
    run_dir = work / f"pacslab-{algorithm}-{tag}{'-t' + str(threads) if threads else ''}"
    if run_dir.exists():
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    total = args.warmup + args.steps
    sets = [f"algorithm={algorithm}", f"total_steps={total}", "eval_every=0", "checkpoint_every=0", "device=cpu",
            f"rollout.prompts_per_step={args.prompts}", f"rollout.n={args.n}", f"rollout.max_new_tokens={args.max_new_tokens}",
            f"optim.mini_batch_prompts={args.prompts}", f"optim.micro_batch_prompts={args.prompts}",
            "eval.size=8", f"seed={args.seed}", "optim.schedule=constant"]
    if args.model:
        sets.append(f"model.path={Path(args.model).resolve()}")
    cmd = [str(VENV_PY), "-m", "pacslab", "train", str(args.config), "--run-dir", str(run_dir)]
    for s in sets:
        cmd += ["--set", s]
    env = dict(__import__("os").environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"pacslab {algorithm} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    marks, lengths, tps = {}, {}, {}
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "metrics" and "reward/mean" in event.get("values", {}):
            marks[event["step"]] = event["t"]
            lengths[event["step"]] = event["values"].get("response/length_mean")
    steps = range(args.warmup + 1, total + 1)
    return {"step_times": [marks[s] - marks[s - 1] for s in steps], "completion_length_mean": [lengths[s] for s in steps],
            "run_dir": run_dir}


def pacslab_phases(run_dir: Path, warmup: int) -> dict:
    """Median seconds of the timed steps' phases from a pacslab run's events: the rollout, the update
    (with the old log-probs when fused into it) and the rest (ψ_post, verification, the records)."""
    steps = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "metrics" and "perf/step_s" in event.get("values", {}) and event["step"] > warmup:
            steps.append(event["values"])
    rollout = [v["perf/rollout_s"] for v in steps]
    update = [v["perf/update_s"] for v in steps]
    other = [v["perf/step_s"] - v["perf/rollout_s"] - v["perf/update_s"] for v in steps]
    return {k: round(statistics.median(x), 2) for k, x in (("rollout", rollout), ("update", update), ("other", other))}


def trl_times(args, work: Path, tag: str, threads: int | None = None, keep_freed_memory: bool = False) -> dict:
    cmd = [str(VENV_PY), str(BENCH / "trainer_vs_trl" / "trl_side.py"), "--out", str(work / f"trl-{tag}"),
           "--prompts", str(args.prompts), "--n", str(args.n), "--max-new-tokens", str(args.max_new_tokens),
           "--warmup", str(args.warmup), "--steps", str(args.steps), "--seed", str(args.seed), "--model", str(args.model_dir),
           "--config", str(args.config), "--lr", str(args.lr)] + (["--keep-freed-memory"] if keep_freed_memory else [])
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "trainer")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"TRL failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(parts: list[dict], batch: int) -> dict:
    times = [t for p in parts for t in p["step_times"]]
    lengths = [x for p in parts for x in p.get("completion_length_mean", []) if x is not None]
    return {
        "samples_per_s": round(batch * len(times) / sum(times), 2),
        "step_s_median": round(statistics.median(times), 3),
        "step_s_mean": round(statistics.fmean(times), 3),
        "timed_steps": len(times),
        "completion_length_mean": round(statistics.fmean(lengths), 3) if lengths else None,
        "step_times": [round(t, 4) for t in times],
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in __import__("os").getloadavg()]


def realistic(args, cfg, shape: dict) -> int:
    args.prompts, args.n, args.max_new_tokens = cfg.rollout.prompts_per_step, cfg.rollout.n, cfg.rollout.max_new_tokens
    args.lr, args.model_dir = cfg.optim.lr, shape["model_dir"]
    default_threads = torch_default_threads()
    every = {  # name: run one round
        "grpo": lambda tag: pacslab_times("grpo", args, args.work, tag),
        "trl": lambda tag: trl_times(args, args.work, tag),
        "grpoT": lambda tag: pacslab_times("grpo", args, args.work, tag, threads=default_threads),
        "grpo1": lambda tag: pacslab_times("grpo", args, args.work, tag, threads=1),
        "trl1": lambda tag: trl_times(args, args.work, f"one-{tag}", threads=1),
        "trlM": lambda tag: trl_times(args, args.work, f"malloc-{tag}", keep_freed_memory=True),
    }
    unknown = set(args.sides.split(",")) - set(every)
    if unknown:
        raise SystemExit(f"--sides: unknown {', '.join(sorted(unknown))}; use some of {', '.join(every)}")
    sides = {name: every[name] for name in args.sides.split(",")}
    results: dict[str, list[dict]] = {name: [] for name in sides}
    load_before, started = load_average(), time.time()
    for r in range(args.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            t0 = time.perf_counter()
            part = sides[name](f"r{r}")
            results[name].append(part)
            print(f"round {r + 1} {name}: median step {statistics.median(part['step_times']):.2f} s "
                  f"(process {time.perf_counter() - t0:.0f} s, load {load_average()[0]})", flush=True)
    batch = args.prompts * args.n
    summary = {name: summarise(results[name], batch) for name in sides}
    for name in ("grpo", "grpoT", "grpo1"):  # where pacslab's step goes, round by round
        if name in summary:
            summary[name]["phases_s_median_by_round"] = [pacslab_phases(part["run_dir"], args.warmup) for part in results[name]]
    labels = {
        "grpo": ("pacslab", {"algorithm": "grpo", "threads": f"its default: torch's default, {default_threads} "
                                                              "(one thread only for a step under 10¹⁰ parameter·tokens)"}),
        "grpo1": ("pacslab_one_thread", {"algorithm": "grpo", "threads": 1}),
        "trl": ("trl", {"trainer": "GRPOTrainer", "threads": f"torch's default, {default_threads}"}),
        "grpoT": ("pacslab_default_threads", {"algorithm": "grpo", "threads": default_threads}),
        "trl1": ("trl_one_thread", {"trainer": "GRPOTrainer", "threads": 1}),
        "trlM": ("trl_keep_freed_memory", {"trainer": "GRPOTrainer", "threads": f"torch's default, {default_threads}",
                                           "allocator": "pacslab's CPU setting (malloc keeps freed memory)"}),
    }
    trl_version = next((part.get("trl") for name in ("trl", "trl1", "trlM") for part in results.get(name, [])), None)
    rows = {labels[name][0]: {**summary[name], **labels[name][1], **({"version": trl_version} if "trainer" in labels[name][1] else {})}
            for name in sides}

    def ratio(a: str, b: str) -> float | None:
        return round(rows[a]["samples_per_s"] / rows[b]["samples_per_s"], 2) if a in rows and b in rows else None

    data = {
        "benchmark": "trainer_vs_trl_realistic",
        "description": "samples/s of one RL step at realistic proportions on the CPU (10M Qwen2, 64-token prompts, "
                       "256-token responses, 8 prompts x 8 samples, fp32), pacslab CLI (grpo) vs TRL GRPOTrainer, interleaved",
        "model": {"architecture": "Qwen2ForCausalLM, random init", **shape["shape"], "parameters": shape["parameters"],
                  "tokenizer": shape["tokenizer"]},
        "prompt_tokens": shape["prompt_tokens"],
        **rows,
        "sides_run": list(sides),
        "ratio": ratio("pacslab", "trl"),
        "ratio_one_thread": ratio("pacslab_one_thread", "trl_one_thread"),
        "ratio_default_threads": ratio("pacslab_default_threads", "trl"),
        "ratio_same_allocator": ratio("pacslab", "trl_keep_freed_memory"),
        "target_ratio": 2.0,
        "pass": None if ratio("pacslab", "trl") is None else ratio("pacslab", "trl") >= 2.0,
        "steps": {"warmup": args.warmup, "timed_per_round": args.steps, "rounds": args.rounds},
        "batch": {"prompts": args.prompts, "samples_per_prompt": args.n, "max_new_tokens": args.max_new_tokens},
        "settings": f"both: fp32 CPU, lr {args.lr:g} constant, max_grad_norm 1, clip 0.2, no KL, temperature 1, top_p 1, "
                    "one optimizer step per batch, no gradient checkpointing, reward = byte parity of the response; "
                    "TRL: no vLLM, steps_per_generation 1, num_iterations 1; pacslab: one micro-batch of 8 prompts, "
                    "logs every step's rollouts with token details (its default)",
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "wall_s": round(time.time() - started, 1),
    }
    path = write_result(args.out, data)
    measured = ", ".join(f"{k} {v['samples_per_s']} samples/s" for k, v in rows.items())
    print(f"realistic: {measured}; ratio {data['ratio']}, "
          f"one thread {data['ratio_one_thread']}, default threads {data['ratio_default_threads']}; wrote {path}")
    return 0


def torch_default_threads() -> int:
    """torch's default intra-op thread count here: what TRL uses, and what pacslab gets with OMP_NUM_THREADS set to it."""
    return int(subprocess.run([str(VENV_PY), "-c", "import torch; print(torch.get_num_threads())"],
                              capture_output=True, text=True, check=True).stdout.strip())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a model directory instead of builtin:arith-tiny (for trying the harness)")
    p.add_argument("--prompts", type=int, help="default: the config's rollout.prompts_per_step")
    p.add_argument("--n", type=int, help="default: the config's rollout.n")
    p.add_argument("--max-new-tokens", type=int, help="default: the config's rollout.max_new_tokens")
    p.add_argument("--shape", choices=["tiny", "realistic"], default="tiny",
                   help="tiny: the embedded default; realistic: realistic_shape.py's 10M model and 256-token responses")
    p.add_argument("--sides", default="grpo,trl,grpo1,trl1,trlM",
                   help="realistic shape: the sides to run (grpo, trl, grpo1, trl1, trlM: TRL with pacslab's allocator "
                        "setting, grpoT: pacslab with OMP_NUM_THREADS at torch's default)")
    p.add_argument("--warmup", type=int, help="untimed steps per side per round (default: tiny 2, realistic 1)")
    p.add_argument("--steps", type=int, help="timed steps per side per round (default: tiny 5, realistic 2)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, help="default: bench/.work/trainer_vs_trl[_realistic]")
    p.add_argument("--out", help="result name in bench/results/ (default: trainer_vs_trl[_realistic])")
    args = p.parse_args()
    suffix = "" if args.shape == "tiny" else "_realistic"
    args.work = (args.work or BENCH / ".work" / f"trainer_vs_trl{suffix}").resolve()
    args.out = args.out or f"trainer_vs_trl{suffix}"
    args.warmup = args.warmup if args.warmup is not None else (2 if args.shape == "tiny" else 1)
    args.steps = args.steps or (5 if args.shape == "tiny" else 2)
    sys.path.insert(0, str(ROOT / "trainer"))
    from pacslab.config import load_config
    from pacslab.models import resolve_model_path

    args.work.mkdir(parents=True, exist_ok=True)
    if args.shape == "realistic":
        from realistic_shape import build

        shape = build(args.work)
        args.config, args.model = shape["config"], str(shape["model_dir"])
        return realistic(args, load_config(args.config, []), shape)
    args.config = CONFIG
    cfg = load_config(CONFIG, [])
    args.prompts = args.prompts or cfg.rollout.prompts_per_step
    args.n = args.n or cfg.rollout.n
    args.max_new_tokens = args.max_new_tokens or cfg.rollout.max_new_tokens
    args.lr = cfg.optim.lr

    args.model_dir = Path(args.model).resolve() if args.model else resolve_model_path("builtin:arith-tiny", base_dir=ROOT)
    default_threads = torch_default_threads()
    results: dict[str, list[dict]] = {"grpo": [], "pacs": [], "trl": [], "trl1": [], "grpoT": []}
    started = time.time()
    for r in range(args.rounds):
        order = ["grpo", "trl", "grpoT", "trl1", "pacs"]
        for side in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            if side.startswith("trl"):
                part = trl_times(args, args.work, f"{side}-r{r}", threads=1 if side == "trl1" else None)
            elif side == "grpoT":
                part = pacslab_times("grpo", args, args.work, f"r{r}", threads=default_threads)
            else:
                part = pacslab_times(side, args, args.work, f"r{r}")
            results[side].append(part)
            print(f"round {r + 1} {side}: median step {statistics.median(part['step_times']):.3f} s "
                  f"(process {time.perf_counter() - t0:.0f} s)", flush=True)
    batch = args.prompts * args.n
    grpo, pacs, trl, trl1, grpo_t = (summarise(results[k], batch) for k in ("grpo", "pacs", "trl", "trl1", "grpoT"))
    data = {
        "benchmark": "trainer_vs_trl",
        "description": "samples/s of one RL step (16 prompts x 8 samples) on the CPU, pacslab CLI vs TRL GRPOTrainer, interleaved",
        "model": "builtin:arith-tiny" if not args.model else str(args.model),
        "task": f"the default config's task ({cfg.task.type}, {cfg.task.arith.digits}-digit {'/'.join(cfg.task.arith.ops)})",
        "pacslab": {**grpo, "algorithm": "grpo"},
        "pacslab_pacs": {**pacs, "algorithm": "pacs"},
        "trl": {**trl, "trainer": "GRPOTrainer", "version": results["trl"][0].get("trl")},
        "pacslab_default_threads": {**grpo_t, "algorithm": "grpo", "threads": default_threads,
                                    "note": f"OMP_NUM_THREADS={default_threads}: torch's default here, the threads TRL runs with"},
        "trl_one_thread": {**trl1, "trainer": "GRPOTrainer with OMP_NUM_THREADS=1 (pacslab's own choice for small steps)"},
        "ratio": round(grpo["samples_per_s"] / trl["samples_per_s"], 2),
        "ratio_vs_trl_one_thread": round(grpo["samples_per_s"] / trl1["samples_per_s"], 2),
        "ratio_equal_default_threads": round(grpo_t["samples_per_s"] / trl["samples_per_s"], 2),
        "ratio_pacs": round(pacs["samples_per_s"] / trl["samples_per_s"], 2),
        "target_ratio": 3.0,
        "pass": grpo["samples_per_s"] / trl["samples_per_s"] >= 3.0,
        "steps": {"warmup": args.warmup, "timed_per_round": args.steps, "rounds": args.rounds},
        "batch": {"prompts": args.prompts, "samples_per_prompt": args.n, "max_new_tokens": args.max_new_tokens},
        "settings": f"both: fp32 CPU, lr {args.lr:g} constant, max_grad_norm 1, clip 0.2, no KL, temperature 1, top_p 1, one optimizer step per batch, "
                    "no gradient checkpointing; TRL: no vLLM, steps_per_generation 1, num_iterations 1; pacslab: logs every step's rollouts with token details (its default)",
        "wall_s": round(time.time() - started, 1),
    }
    path = write_result(args.out, data)
    print(f"pacslab grpo {grpo['samples_per_s']} samples/s ({default_threads} threads: {grpo_t['samples_per_s']}), "
          f"pacs {pacs['samples_per_s']}, TRL {trl['samples_per_s']} "
          f"(one thread: {trl1['samples_per_s']}): "
          f"ratio {data['ratio']} (pacs {data['ratio_pacs']}); wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
