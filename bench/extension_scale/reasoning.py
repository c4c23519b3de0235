"""Rollout records at the reasoning shape: one step of 1,024 samples × 500–8,000 response tokens
(log-uniform, mean ≈ 2,700) with full token details, written as today's JSONL and as Parquet
(pacslab.run.records) in the same run; then the extension's RunStore opens each (reasoning.ts).

Compared, each against JSONL in the same run: bytes a step (target ≤ 1/8), the trainer's time to
write a step (target: no more than JSONL's; median of interleaved repeats), opening the step in the
store (≤ 0.1 s, ≤ 100 MB added) and one sample's heat-map (≤ 20 ms). The step is also written as
the trainer wrote it before `response_preview` (no preview, pyarrow's default write batch), the
baseline the store opens as it did then (every whole response decoded). Arrow IPC with zstd is
written too, for the format comparison in docs/run-format.md.

    python bench/extension_scale/reasoning.py [--samples 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "trainer"))
from machine import write_result  # noqa: E402

from pacslab.run import records as rollout_records  # noqa: E402
from pacslab.run import files as runio  # noqa: E402

WORDS = ("the sum of and then we carry one so answer is because digit step check compute total value first second "
         "next last result equals plus minus times divide let x y z number therefore thus wait verify").split()
TARGETS = {"bytes_ratio": 1 / 8, "open_step_ms": 100.0, "open_step_added_mib": 100.0, "heatmap_ms": 20.0}


def reasoning_step(samples: int, n: int, seed: int) -> list[dict]:
    """Records as the native trainer builds them: decoded tokens, float32 log-ratios as Python floats."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    vocab = [w for w in WORDS] + [f" {w}" for w in WORDS] + [str(d) for d in range(10)] + [" ", "\n", ".", ",", "=", "+", "<|eos|>"]
    records = []
    for i in range(samples):
        length = int(math.exp(rng.uniform(math.log(500), math.log(8000))))
        tokens = [rng.choice(vocab) for _ in range(length)]
        eos = tokens[-1] == "<|eos|>"
        response = "".join(tokens[:-1] if eos else tokens)  # special tokens are skipped in the decoded text
        psi = rng.gauss(0, 1)
        p = 1 / (1 + math.exp(-psi))
        reward = float(rng.random() < 0.5)
        records.append({
            "step": 1, "group": i // n, "index": i % n, "prompt_id": f"train-{i // n:05d}",
            "prompt": " ".join(rng.choice(WORDS) for _ in range(40)), "response": response, "answer": str(rng.randint(0, 9999)),
            "reward": reward, "verifier": {"parsed": response[-4:], "detail": None, "error": None},
            "logratio": psi * 0.9, "psi": psi, "p_correct": p, "grad_weight": reward - p, "weight": 1.0,
            "length": length, "truncated": not eos, "tokens": tokens,
            "token_logratio": np_rng.normal(0, 0.05, size=length).astype(np.float32).tolist(),
        })
    return records


def arrow_ipc_zstd(records: list[dict]) -> bytes:
    table = rollout_records.to_table(records)
    sink = io.BytesIO()
    with ipc.new_file(sink, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table, max_chunksize=rollout_records.ROW_GROUP)
    return sink.getvalue()


def before_preview(run: Path, records: list[dict]) -> str:
    """The step as the trainer wrote it before response_preview and its write batch of 16."""
    table = rollout_records.to_table(records).drop_columns([rollout_records.PREVIEW_COLUMN])
    runio.run_subdir(run, "rollouts")
    rel = rollout_records.file_name(1)
    (run / rel).write_bytes(rollout_records.encode(table, write_batch=1024))
    return rel


def write_run(root: Path, run_id: str, records: list[dict], *, jsonl: bool, before: bool = False) -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    rel = before_preview(run, records) if before else runio.write_rollouts(run, 1, records, jsonl=jsonl)
    events = [{"t": 1.0, "type": "run_started", "total_steps": 1, "config": {"name": run_id}},
              {"t": 2.0, "type": "rollouts", "step": 1, "file": rel, "count": len(records)}]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run / "run.json").write_text(json.dumps({"format": runio.FORMAT_VERSION, "id": run_id, "name": run_id, "algorithm": "pacs",
                                              "status": "finished", "step": 1, "total_steps": 1}))
    return run / rel


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=BENCH / ".work" / "reasoning")
    args = p.parse_args()
    records = reasoning_step(args.samples, args.n, args.seed)
    tokens = sum(r["length"] for r in records)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    scratch = args.work / "scratch"
    scratch.mkdir()

    # the trainer's write of a step, JSONL and Parquet interleaved (the same writer the engines call)
    write = {"jsonl": [], "parquet": []}
    for _ in range(args.repeats):
        for kind in write:
            write[kind] += timed(lambda: runio.write_rollouts(scratch, 1, records, jsonl=kind == "jsonl"), 1)
    ipc_bytes = arrow_ipc_zstd(records)
    ipc_s = statistics.median(timed(lambda: arrow_ipc_zstd(records), args.repeats))
    zstd_parquet = io.BytesIO()
    pq.write_table(rollout_records.to_table(records), zstd_parquet, row_group_size=rollout_records.ROW_GROUP, compression="zstd",
                   compression_level=3, column_encoding={"token_logratio": "BYTE_STREAM_SPLIT"}, use_dictionary=False)

    jsonl_path = write_run(args.work / "runs-jsonl", "20261207-000000-reasoning-jsonl", records, jsonl=True)
    parquet_path = write_run(args.work / "runs-parquet", "20261207-000000-reasoning-pq", records, jsonl=False)
    before_path = write_run(args.work / "runs-parquet-before", "20261207-000000-reasoning-before", records, jsonl=False, before=True)
    sizes = {"jsonl": jsonl_path.stat().st_size, "parquet": parquet_path.stat().st_size, "parquet_before": before_path.stat().st_size}
    store = {}
    for kind in ("jsonl", "parquet-before", "parquet"):
        out = args.work / f"store-{kind}.json"
        cmd = ["node", "--expose-gc", "--import", "tsx", str(HERE / "reasoning.ts"), str(args.work / f"runs-{kind}"), str(out)]
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
        store[kind] = json.loads(out.read_text())
    pq_store, js_store, before_store = store["parquet"], store["jsonl"], store["parquet-before"]
    measured = {
        "bytes_ratio": round(sizes["parquet"] / sizes["jsonl"], 4),
        "open_step_ms": pq_store["open_step_ms"],
        "open_step_added_mib": pq_store["added_rss_mib"],
        "heatmap_ms": pq_store["heatmap_ms"]["median"],
    }
    checks = {name: {"target": f"≤ {target:g}", "measured": measured[name], "pass": measured[name] <= target}
              for name, target in TARGETS.items()}
    checks["write_s"] = {"target": f"≤ JSONL's {statistics.median(write['jsonl']):.3f} s",
                         "measured": round(statistics.median(write["parquet"]), 3),
                         "pass": statistics.median(write["parquet"]) <= statistics.median(write["jsonl"])}
    data = {
        "benchmark": "extension_reasoning",
        "description": f"one step of {args.samples} samples × 500–8,000 response tokens (log-uniform) with full token details, "
                       "JSONL (today's writer) against Parquet (pacslab.run.records), and Parquet as written before response_preview (the "
                       "baseline: the store decodes every whole response), in the same run; store = the core RunStore in its own "
                       "Node process per file (open = loadRollouts of the step; added memory = RSS after it, after GC, minus before; "
                       "heat-map = one shown sample's token details and whole response; whole responses = what the inspector's text "
                       "filter reads the first time it searches the step)",
        "shape": {"samples": args.samples, "tokens": tokens, "mean_tokens": round(tokens / args.samples)},
        "bytes": {**sizes, "arrow_ipc_zstd": len(ipc_bytes), "parquet_zstd": len(zstd_parquet.getvalue())},
        "write_s": {"jsonl": [round(x, 3) for x in write["jsonl"]], "parquet": [round(x, 3) for x in write["parquet"]],
                    "arrow_ipc_zstd_median": round(ipc_s, 3)},
        "store": store,
        "jsonl_open_step_ms": js_store["open_step_ms"],
        "before_open_step_ms": before_store["open_step_ms"],
        "open_speedup": round(before_store["open_step_ms"] / pq_store["open_step_ms"], 2),
        "checks": checks,
        "pass": all(c["pass"] for c in checks.values()),
    }
    path = write_result("extension_reasoning", data)
    print(f"bytes a step: JSONL {sizes['jsonl'] / 2**20:.1f} MiB, Parquet {sizes['parquet'] / 2**20:.1f} MiB "
          f"(Arrow IPC zstd {len(ipc_bytes) / 2**20:.1f} MiB)")
    for name, c in checks.items():
        print(f"{name}: {c['measured']} (target {c['target']}) {'PASS' if c['pass'] else 'FAIL'}")
    print(f"JSONL in the store: open {js_store['open_step_ms']} ms, +{js_store['added_rss_mib']} MiB")
    print(f"Parquet before response_preview: open {before_store['open_step_ms']} ms (again {before_store['open_step_again_ms']} ms), "
          f"+{before_store['added_rss_mib']} MiB; now {pq_store['open_step_ms']} ms (again {pq_store['open_step_again_ms']} ms), "
          f"+{pq_store['added_rss_mib']} MiB: {data['open_speedup']}x; the text filter's whole responses "
          f"{pq_store['whole_responses']['ms']} ms, +{pq_store['whole_responses']['added_rss_mib']} MiB in all")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
