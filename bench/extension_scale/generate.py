"""Writes a synthetic finished run in the run format: STEPS steps × SAMPLES samples a step.

Text lengths follow a log-uniform law (prompts 20–200 characters, responses 50–2000), so most
responses are a few hundred characters and some are long. One group in TOKEN_EVERY carries the
per-token details (`tokens`, `token_logratio`, about one token per four characters), the rest
leave them out as `log_token_details: false` would. Seeded: the same arguments give the same bytes.

    python bench/extension_scale/generate.py --out bench/.work/scale [--steps 1000] [--samples 1024]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path

RUN_ID = "20261127-040000-scale-5ca1"
WORDS = ("the sum of and then we carry one so answer is because digit step check compute total value "
         "first second next last result equals plus minus times divide let x y z number therefore thus").split()
METRICS = ["reward/mean", "reward/std", "reward/mixed_group_frac", "pacs/loss", "pacs/psi_mean", "pacs/psi_abs_mean",
           "pacs/weight_mean", "critic/auc", "critic/ece", "critic/accuracy", "critic/psi_pos_mean", "critic/psi_neg_mean",
           "optim/grad_norm", "optim/lr", "policy/entropy", "response/length_mean", "response/length_max",
           "response/truncated_frac", "perf/step_s", "perf/rollout_s", "perf/update_s", "perf/samples_per_s",
           "perf/tokens_per_s"]


def log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def text_pool(rng: random.Random, chars: int) -> str:
    parts, size = [], 0
    while size < chars:
        w = rng.choice(WORDS) if rng.random() > 0.2 else str(rng.randint(0, 99999))
        parts.append(w)
        size += len(w) + 1
    return " ".join(parts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="runs root to write (replaced)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--token-every", type=int, default=16, help="one group in this many logs token details")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    pool = text_pool(rng, 1 << 22)
    run = args.out / RUN_ID
    if args.out.exists():
        shutil.rmtree(args.out)
    (run / "rollouts").mkdir(parents=True)
    t_start, started = time.time() - args.steps * 30.0, time.perf_counter()
    groups = args.samples // args.n
    total_bytes = 0
    with open(run / "events.jsonl", "w") as events:
        events.write(json.dumps({"t": t_start, "type": "run_started", "total_steps": args.steps,
                                 "config": {"name": "scale", "algorithm": "pacs"}}) + "\n")
        events.write(json.dumps({"t": t_start, "type": "state", "status": "running", "reason": "started"}) + "\n")
        for step in range(1, args.steps + 1):
            t = t_start + step * 30.0
            lines = []
            rewards = []
            for g in range(groups):
                prompt = pool[(s := rng.randrange(len(pool) - 256)) : s + log_uniform(rng, 20, 200)]
                p_right = min(0.95, 0.2 + 0.6 * step / args.steps + rng.uniform(-0.15, 0.15))
                detailed = g % args.token_every == 0
                for i in range(args.n):
                    length = log_uniform(rng, 50, 2000)
                    start = rng.randrange(len(pool) - 2048)
                    response = pool[start : start + length]
                    reward = 1.0 if rng.random() < p_right else 0.0
                    rewards.append(reward)
                    psi = rng.gauss(0.4 if reward else -0.4, 0.5)
                    sig = 1.0 / (1.0 + math.exp(-psi))
                    record = {"step": step, "group": g, "index": i, "prompt_id": f"train-{(step * groups + g) % 100000:05d}",
                              "prompt": prompt, "response": response, "answer": str(rng.randint(0, 9999)),
                              "reward": reward, "verifier": {"parsed": response[-6:], "detail": "synthetic"},
                              "logratio": round(psi * 0.9, 5), "psi": round(psi, 5), "p_correct": round(sig, 5),
                              "grad_weight": round(reward - sig, 5), "weight": 1.0, "length": max(1, length // 4),
                              "truncated": length > 1900}
                    if detailed:
                        tokens = [response[k : k + 4] for k in range(0, length, 4)]
                        record["tokens"] = tokens
                        record["token_logratio"] = [round(rng.gauss(0, 0.05), 4) for _ in tokens]
                    lines.append(json.dumps(record, ensure_ascii=False))
            data = "\n".join(lines) + "\n"
            total_bytes += len(data.encode())
            (run / "rollouts" / f"step-{step:06d}.jsonl").write_text(data)
            mean = sum(rewards) / len(rewards)
            values = {m: round(rng.uniform(0, 1), 5) for m in METRICS}
            values["reward/mean"] = mean
            events.write(json.dumps({"t": t, "type": "metrics", "step": step, "values": values}) + "\n")
            events.write(json.dumps({"t": t, "type": "rollouts", "step": step, "file": f"rollouts/step-{step:06d}.jsonl",
                                     "count": len(lines)}) + "\n")
            if step % 25 == 0:
                events.write(json.dumps({"t": t, "type": "eval", "step": step,
                                         "values": {"eval/accuracy": mean, "eval/pass@1": mean, "eval/pass@8": min(1, mean * 1.5)}}) + "\n")
            if step % 100 == 0:
                print(f"step {step}/{args.steps}: {total_bytes / 2**20:.0f} MiB of rollouts, {time.perf_counter() - started:.0f} s", flush=True)
        t_end = t_start + (args.steps + 1) * 30.0
        events.write(json.dumps({"t": t_end, "type": "state", "status": "finished", "reason": "completed all steps"}) + "\n")
        events.write(json.dumps({"t": t_end, "type": "run_finished", "status": "finished"}) + "\n")
    iso = lambda ts: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))  # noqa: E731
    info = {"format": 2, "id": RUN_ID, "name": "scale", "algorithm": "pacs", "status": "finished", "pid": None,
            "pid_start_time": None, "host": "bench", "created_at": iso(t_start), "updated_at": iso(t_end),
            "step": args.steps, "total_steps": args.steps, "config_path": "scale.pacs.yaml", "seed": args.seed,
            "git": None, "versions": {"pacslab": "bench", "device": "cpu"}, "error": None}
    (run / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    (run / "config.yaml").write_text(f"name: scale\nalgorithm: pacs\ntotal_steps: {args.steps}\nrollout:\n  prompts_per_step: {groups}\n  n: {args.n}\n")
    summary = {"run_id": RUN_ID, "steps": args.steps, "samples_per_step": groups * args.n, "rollouts": args.steps * groups * args.n,
               "rollout_bytes": total_bytes, "token_details_every_groups": args.token_every, "generate_s": round(time.perf_counter() - started, 1)}
    (args.out / "generated.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
