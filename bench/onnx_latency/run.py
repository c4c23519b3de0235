"""Latency of scoring one response with the implicit critic: onnxruntime-node (src/scoring/model,
what the editor runs) against PyTorch (pacslab.scoring with --backend torch) and Python
onnxruntime, on the CPU, for the same prompt, response and models.

Each model is wrapped in a minimal run directory (config.yaml, checkpoints/step-000000 holding
hard links to the model's files: the trainer never follows a symbolic link inside a run folder) and exported with `python -m pacslab export-onnx --run DIR --step 0`; the policy and
the reference are the same weights, so r̂ is 0, which does not change the work. One score = one
forward pass of the policy and one of the reference over prompt + response. Median of N after
warm-up.

    python bench/onnx_latency/run.py [--models tiny,qwen05b] [--qwen-vocab 151936] [-n 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from machine import RESULTS, write_result  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
TINY_CASE = ("123+456=", "579")
# ~128 tokens with the character tokenizer (about what 500 characters are for a BPE tokenizer).
LONG_PROMPT = "(12+34)*5=? Compute 987+654, then 321-123, then 45*6. "
LONG_RESPONSE = "987+654=1641. 321-123=198. 45*6=270. So the sum is 1641+198+270=2109."


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def make_run(run_dir: Path, model_dir: Path) -> None:
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    step = run_dir / "checkpoints" / "step-000000"
    if not step.exists():
        shutil.copytree(model_dir.resolve(), step, copy_function=_link_or_copy)
    (run_dir / "config.yaml").write_text(f"name: onnx-bench\nalgorithm: pacs\nmodel:\n  path: {model_dir.resolve()}\n"
                                         "pacs:\n  beta: 1.0\n  reward_method: logratio\n  adv_estimator: rloo\n  norm_by_std: true\n")


def export(run_dir: Path) -> float:
    manifest = run_dir / "onnx" / "manifest.json"
    if manifest.is_file() and "0" in json.loads(manifest.read_text()).get("policies", {}):
        return json.loads((run_dir / "export-time.json").read_text())["export_s"]
    t0 = time.perf_counter()
    subprocess.run([str(PY), "-m", "pacslab", "export-onnx", "--run", str(run_dir), "--step", "0"], cwd=ROOT, check=True)
    seconds = time.perf_counter() - t0
    (run_dir / "export-time.json").write_text(json.dumps({"export_s": seconds}))
    return seconds


def python_latency(run_dir: Path, backend: str, prompt: str, response: str, n: int, warmup: int, threads: int | None = None) -> dict:
    code = f"""
import json, time, statistics, torch
from pacslab.scoring import Scorer
t0 = time.perf_counter(); s = Scorer({str(run_dir)!r}, step=0, backend={backend!r}); open_s = time.perf_counter() - t0
for _ in range({warmup}): r = s.score({prompt!r}, {response!r})
times = []
for _ in range({n}):
    t0 = time.perf_counter(); r = s.score({prompt!r}, {response!r}); times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({{"open_ms": open_s * 1000, "median_ms": statistics.median(times), "min_ms": min(times), "times_ms": times,
                  "response_tokens": len(r["token_ids"]), "token_logp_head": r["token_logp"][:5], "torch_threads": torch.get_num_threads()}}))
"""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    proc = subprocess.run([str(PY), "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{backend} scoring failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def node_latency(run_dir: Path, prompt: str, response: str, n: int, warmup: int) -> dict:
    out = BENCH / ".work" / f"onnx-node-{run_dir.name}.json"
    subprocess.run(["node", "--import", "tsx", str(HERE / "score.ts"), str(run_dir), prompt, response, str(n), str(warmup), str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="tiny,qwen05b")
    p.add_argument("--tiny-model", type=Path, help="default: builtin:arith-tiny")
    p.add_argument("--qwen-vocab", type=int, default=151936, help="shrink the 0.5B model's vocabulary if the export is too big or slow")
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--work", type=Path, default=BENCH / ".work" / "onnx")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "trainer"))
    previous = RESULTS / "onnx_latency.json"
    # Models not asked for this time keep their last measurement (the 0.5B one takes a while).
    models = json.loads(previous.read_text()).get("models", {}) if previous.is_file() else {}
    for name in args.models.split(","):
        if name == "tiny":
            from pacslab.models import resolve_model_path

            model_dir = args.tiny_model or resolve_model_path("builtin:arith-tiny", base_dir=ROOT)
            prompt, response, n = *TINY_CASE, args.n
        elif name == "qwen05b":
            model_dir = args.work / f"qwen05b-v{args.qwen_vocab}"
            if not (model_dir / "config.json").is_file():
                subprocess.run([str(PY), str(BENCH / "qwen_shape.py"), "--out", str(model_dir), "--vocab", str(args.qwen_vocab)], cwd=ROOT, check=True)
            prompt, response, n = LONG_PROMPT, LONG_RESPONSE, max(5, args.n // 2)
        else:
            raise SystemExit(f"unknown model {name!r}: use tiny or qwen05b")
        run_dir = args.work / f"run-{name}"
        make_run(run_dir, Path(model_dir))
        export_s = export(run_dir)
        config = json.loads((Path(model_dir) / "config.json").read_text())
        entry = {
            "model": str(model_dir) if name == "qwen05b" or args.tiny_model else "builtin:arith-tiny",
            "shape": {k: config.get(k) for k in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                                 "num_key_value_heads", "intermediate_size", "vocab_size")},
            "prompt_chars": len(prompt), "response_chars": len(response),
            "export_s": round(export_s, 1),
            "n": n, "warmup": args.warmup,
        }
        entry["node_onnxruntime"] = node_latency(run_dir, prompt, response, n, args.warmup)
        entry["python_torch"] = python_latency(run_dir, "torch", prompt, response, n, args.warmup)
        entry["python_onnxruntime"] = python_latency(run_dir, "onnx", prompt, response, n, args.warmup)
        # torch's default threads spin against each other on a busy machine; one thread shows the model's own cost.
        entry["python_torch_1thread"] = python_latency(run_dir, "torch", prompt, response, n, args.warmup, threads=1)
        for side in ("node_onnxruntime", "python_torch", "python_onnxruntime", "python_torch_1thread"):
            entry[side].pop("times_ms", None)
        entry["tokens"] = entry["node_onnxruntime"]["response_tokens"]
        entry["ratio_torch_over_node"] = round(entry["python_torch"]["median_ms"] / entry["node_onnxruntime"]["median_ms"], 2)
        entry["ratio_torch_1thread_over_node"] = round(entry["python_torch_1thread"]["median_ms"] / entry["node_onnxruntime"]["median_ms"], 2)
        head_node, head_torch = entry["node_onnxruntime"]["token_logp_head"], entry["python_torch"]["token_logp_head"]
        entry["max_abs_logp_diff_first_tokens"] = max(abs(a - b) for a, b in zip(head_node, head_torch))
        entry["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        models[name] = entry
        print(f"{name}: node onnxruntime {entry['node_onnxruntime']['median_ms']:.1f} ms, torch {entry['python_torch']['median_ms']:.1f} ms, "
              f"python onnxruntime {entry['python_onnxruntime']['median_ms']:.1f} ms (torch/node {entry['ratio_torch_over_node']})", flush=True)
    for name, entry in models.items():
        # Both models' files: a model over 2 GB is exported with external-data files beside it.
        entry["onnx_dir_bytes"] = sum(f.stat().st_size for f in (args.work / f"run-{name}" / "onnx").iterdir() if f.is_file())
        entry.pop("onnx_bytes", None)
    data = {
        "benchmark": "onnx_latency",
        "description": "one (prompt, response) scored = policy + reference forward passes over prompt+response, CPU, median after warm-up; "
                       "node = RunScorer.score (onnxruntime-node, src/scoring/model); torch = pacslab.scoring.Scorer backend torch",
        "models": models,
    }
    path = write_result("onnx_latency", data)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
