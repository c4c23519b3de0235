#!/usr/bin/env bash
# The device check: run on a machine with a CUDA GPU (no network needed; torch and transformers
# installed). From the repository root:
#
#   bash bench/gpu-check.sh              # on the device: results in bench/results/gpu_check.json
#   bash bench/gpu-check.sh --cpu-smoke  # anywhere: the same steps at toy sizes on the CPU
#
# 1. the engine's tests marked `gpu` (trainer/tests and bench/gpu/test_gpu.py);
# 2. a short run of the default config on CUDA (examples/arith.pacs.yaml, 20 steps);
# 3. 3 steps of a random-init Qwen2-0.5B-shape model, 64 prompts × 8 samples × 256 new tokens, bf16,
#    with rollout and update tokens/s and peak memory, against plain transformers generate and
#    forward+backward over the same tokens in the same process.
# Set PYTHON to pick the interpreter (default: .venv/bin/python if present, else python3).
# Writes bench/results/gpu_check.json (or gpu_check_cpu_smoke.json) and a log beside it.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SMOKE=0
[[ "${1:-}" == "--cpu-smoke" ]] && SMOKE=1
if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -x .venv/bin/python ]] && .venv/bin/python -c "import torch" 2>/dev/null; then PY=$ROOT/.venv/bin/python
else PY=python3; fi
export PYTHONPATH="$ROOT/trainer${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
WORK=${GPU_CHECK_WORK:-$ROOT/bench/.work/gpu-check}
NAME=gpu_check; [[ $SMOKE == 1 ]] && NAME=gpu_check_cpu_smoke
mkdir -p "$WORK" bench/results
rm -rf "$WORK/arith-run"
STATUS=()

section() { echo; echo "== $*"; }

section "environment"
"$PY" - <<'PY'
import torch, transformers
print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.version.cuda)
print("devices:", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or "none")
PY

section "1. pytest -m gpu"
if (cd trainer && "$PY" -m pytest -c pyproject.toml -m gpu -q -rs tests ../bench/gpu/test_gpu.py); then STATUS+=("pytest_gpu=pass")
else rc=$?; STATUS+=("pytest_gpu=fail($rc)"); fi

section "2. the default config, 20 steps"
if [[ $SMOKE == 1 ]]; then ARITH_SETS=(--set device=cpu --set total_steps=2 --set eval.size=8)
else ARITH_SETS=(--set device=cuda --set total_steps=20); fi
if "$PY" -m pacslab train examples/arith.pacs.yaml --run-dir "$WORK/arith-run" "${ARITH_SETS[@]}"; then STATUS+=("arith_run=pass")
else rc=$?; STATUS+=("arith_run=fail($rc)"); fi

section "3. Qwen2-0.5B shape: pacslab against plain transformers"
if [[ $SMOKE == 1 ]]; then
  QWEN_ARGS=(--device cpu --dtype float32 --tiny --steps 2 --prompts 4 --n 2 --new-tokens 8 --prompt-len 16 --micro-prompts 2 --repeats 1)
else
  QWEN_ARGS=(--device cuda --dtype bfloat16 --steps 3 --prompts 64 --n 8 --new-tokens 256 --prompt-len 128 --micro-prompts 4 --repeats 2)
fi
if "$PY" bench/gpu/qwen_throughput.py "${QWEN_ARGS[@]}" --work "$WORK/qwen" --out "$WORK/qwen.json"; then STATUS+=("qwen=pass")
else rc=$?; STATUS+=("qwen=fail($rc)"); fi

section "summary"
"$PY" - "$WORK" "$NAME" "${STATUS[@]}" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "bench")
from machine import write_result
work, name, statuses = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
data = {"benchmark": name, "status": dict(s.split("=", 1) for s in statuses)}
events = work / "arith-run" / "events.jsonl"
if events.is_file():
    rows = [json.loads(l) for l in events.read_text().splitlines() if l.strip()]
    train = [e["values"] for e in rows if e.get("type") == "metrics" and "perf/samples_per_s" in e["values"]]
    evals = [e["values"] for e in rows if e.get("type") == "metrics" and "eval/accuracy" in e["values"]]
    if train:
        later = train[1:] or train
        data["arith"] = {"steps": len(train), "samples_per_s_mean_after_first": round(sum(v["perf/samples_per_s"] for v in later) / len(later), 1),
                         "step_s_mean_after_first": round(sum(v["perf/step_s"] for v in later) / len(later), 3),
                         "eval_accuracy": [round(v["eval/accuracy"], 3) for v in evals]}
if (work / "qwen.json").is_file():
    data["qwen05b"] = json.loads((work / "qwen.json").read_text())
path = write_result(name, data)
print(json.dumps({k: v for k, v in data.items() if k != "qwen05b"}, indent=2))
q = data.get("qwen05b")
if q:
    p, t = q["pacslab"], q["plain_transformers"]
    print(f"qwen: rollout {p['rollout_new_tokens_per_s']} new tok/s vs generate {t['generate_new_tokens_per_s']} ({q['rollout_vs_generate']}x); "
          f"update {p['update_tokens_per_s']} tok/s vs fwd+bwd {t['forward_backward_tokens_per_s']} ({q['update_vs_forward_backward']}x); "
          f"peak {p['peak_memory_gib']} GiB")
print(f"wrote {path}")
PY
[[ " ${STATUS[*]} " != *fail* ]]
