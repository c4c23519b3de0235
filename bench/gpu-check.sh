#!/usr/bin/env bash
# The device check: run on a machine with a CUDA GPU (no network needed; torch and transformers
# installed). From the repository root:
#
#   bash bench/gpu-check.sh              # on the device: results in bench/results/gpu_check.json
#   bash bench/gpu-check.sh --cpu-smoke  # anywhere: the same steps at toy sizes on the CPU
#   bash bench/gpu/device.sh             # on the device machine of this workplace: carried wheels, then this
#
# 1. the engine's tests marked `gpu` (trainer/tests and bench/gpu/test_gpu.py);
# 2. a short run of the default config on CUDA (examples/arith.pacs.yaml, 20 steps);
# 3. 3 steps of a random-init Qwen2-0.5B-shape model, 64 prompts × 8 samples × 256 new tokens, bf16,
#    with rollout and update tokens/s and peak memory, against plain transformers generate and
#    forward+backward over the same tokens in the same process;
# 4. the numerics at the 0.5B shape (bench/gpu/numerics_check.py): the fraction of weights 10 PACS
#    steps at lr 1e-6 move in bf16 (fp32 masters) against float32; peak memory of a 4 × 2,048-token-
#    response log-prob forward+backward with chunked logits against one chunk; rollout tokens/s with
#    finished rows leaving the decode batch against every row decoding to the cap;
# 5. `engine: trl` in one process (bench/gpu/qwen_throughput.py --engine trl): section 3's trainer half
#    through PacsGRPOTrainer, 2 steps (the first pays warm-up), against section 3's plain baseline;
# 6. on a machine with more than one GPU, `engine: trl` on every GPU under DeepSpeed ZeRO-2 (TRL's
#    accelerate_configs/zero2.yaml, through `python -m pacslab train`; needs `pip install deepspeed`),
#    samples/s against section 5's; skipped on one GPU or without deepspeed. The CPU smoke runs it
#    on 2 CPU processes (torchrun, gloo) without ZeRO. Sections 5 and 6 run only in what is left of
#    the 8 minutes (GPU_CHECK_BUDGET, 470 s).
# Set PYTHON to pick the interpreter (default: .venv/bin/python if present, else python3). An
# existing PYTHONPATH is kept after trainer/, so packages installed elsewhere stay importable.
# Each section runs under `timeout` (seconds: GPU_CHECK_TIMEOUT_PYTEST, GPU_CHECK_TIMEOUT_ARITH,
# GPU_CHECK_TIMEOUT_QWEN, GPU_CHECK_TIMEOUT_NUMERICS; defaults 80, 80, 170, 150: within 8 minutes); a
# failing or timed-out section does not stop the later ones, and its status says which.
# Writes bench/results/gpu_check.json (or gpu_check_cpu_smoke.json); exits 0 only if every section passed.
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
T_PYTEST=${GPU_CHECK_TIMEOUT_PYTEST:-80}
T_ARITH=${GPU_CHECK_TIMEOUT_ARITH:-80}
T_QWEN=${GPU_CHECK_TIMEOUT_QWEN:-170}
T_NUMERICS=${GPU_CHECK_TIMEOUT_NUMERICS:-150}
mkdir -p "$WORK" bench/results
BUDGET=${GPU_CHECK_BUDGET:-470}
rm -rf "$WORK/arith-run" "$WORK/qwen/run" "$WORK/qwen.json" "$WORK/numerics" "$WORK/numerics.json" "$WORK/qwen-trl" "$WORK/qwen-trl.json" \
  "$WORK/qwen-zero2" "$WORK/qwen-zero2.json"
STATUS=()

section() { echo; echo "== $* [$(date -u +%H:%M:%S), ${SECONDS} s in]"; }

# check NAME SECONDS CMD...: runs CMD under `timeout` and records pass, fail(rc) or timeout(Ns) in STATUS.
check() {
  local name=$1 limit=$2 t0=$SECONDS rc=0
  shift 2
  timeout -k 10 "$limit" "$@" || rc=$?
  if [[ $rc == 0 ]]; then STATUS+=("$name=pass")
  elif [[ $rc == 124 || $rc == 137 ]]; then STATUS+=("$name=timeout(${limit}s)")
  else STATUS+=("$name=fail($rc)"); fi
  echo "-- ${STATUS[${#STATUS[@]}-1]} in $((SECONDS - t0)) s"
}

section "environment"
timeout -k 10 45 "$PY" - <<'EOF'
import importlib, sys
from importlib import metadata
print("python", sys.version.split()[0], sys.executable)
try:
    import torch, transformers
    print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.version.cuda)
    print("devices:", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or "none")
except Exception as e:  # reported, never fatal
    print(f"torch/transformers: {type(e).__name__}: {e}")
dists = {"typing_extensions": "typing-extensions", "math_verify": "math-verify", "antlr4": "antlr4-python3-runtime", "yaml": "pyyaml"}
for name in ("pydantic", "pydantic_core", "typing_extensions", "math_verify", "latex2sympy2_extended", "antlr4", "sympy",
             "yaml", "safetensors", "tokenizers", "huggingface_hub", "numpy", "onnx", "onnxruntime", "onnxscript", "pyarrow", "pytest"):
    try:
        module = importlib.import_module(name)
        try:
            version = getattr(module, "__version__", None) or metadata.version(dists.get(name, name))
        except metadata.PackageNotFoundError:
            version = "?"
        print(f"  {name} {version}  {getattr(module, '__file__', '')}")
    except Exception as e:  # reported, never fatal
        print(f"  {name}: MISSING ({type(e).__name__}: {e})")
EOF

section "1. pytest -m gpu"
# shellcheck disable=SC2016
check pytest_gpu "$T_PYTEST" bash -c 'cd trainer && exec "$1" -m pytest -c pyproject.toml -p no:cacheprovider -m gpu -q -rfEs tests ../bench/gpu/test_gpu.py' _ "$PY"

section "2. the default config, 20 steps"
if [[ $SMOKE == 1 ]]; then ARITH_SETS=(--set device=cpu --set total_steps=2 --set optim.warmup_steps=1 --set eval.size=8)
else ARITH_SETS=(--set device=cuda --set total_steps=20); fi
check arith_run "$T_ARITH" "$PY" -m pacslab train examples/arith.pacs.yaml --run-dir "$WORK/arith-run" "${ARITH_SETS[@]}"

section "3. Qwen2-0.5B shape: pacslab against plain transformers"
if [[ $SMOKE == 1 ]]; then
  QWEN_ARGS=(--device cpu --dtype float32 --tiny --steps 2 --prompts 4 --n 2 --new-tokens 8 --prompt-len 16 --micro-prompts 2 --repeats 1)
else
  QWEN_ARGS=(--device cuda --dtype bfloat16 --steps 3 --prompts 64 --n 8 --new-tokens 256 --prompt-len 128 --micro-prompts 4 --repeats 2)
fi
# qwen_throughput.py rewrites --out after each half, so a timeout in the second still leaves the first.
check qwen "$T_QWEN" "$PY" bench/gpu/qwen_throughput.py "${QWEN_ARGS[@]}" --work "$WORK/qwen" --out "$WORK/qwen.json"

section "4. numerics at the Qwen2-0.5B shape: precision, chunked log-probs, rows leaving the decode batch"
if [[ $SMOKE == 1 ]]; then
  NUMERICS_ARGS=(--device cpu --dtype float32 --tiny --steps 2 --rows 2 --response 64 --chunk-tokens 32 --prompt-len 16
                 --prompts 4 --n 2 --new-tokens 32 --stop-every 20)
else
  NUMERICS_ARGS=(--device cuda --dtype bfloat16 --steps 10 --rows 4 --response 2048 --prompt-len 128 --prompts 16 --n 8
                 --new-tokens 1024 --stop-every 300)
fi
check numerics "$T_NUMERICS" "$PY" bench/gpu/numerics_check.py "${NUMERICS_ARGS[@]}" --work "$WORK/numerics" --out "$WORK/numerics.json"

# in_budget NAME: whether a section that runs in what is left of the budget has a minute for it (else skipped)
in_budget() {
  if (( BUDGET - SECONDS >= 60 )); then return 0; fi
  echo "skipped: $((BUDGET - SECONDS)) s left of the ${BUDGET} s budget"
  STATUS+=("$1=skipped(no time left)")
  return 1
}

section "5. Qwen2-0.5B shape through engine: trl, one process"
if in_budget qwen_trl; then
  check qwen_trl "$((BUDGET - SECONDS))" "$PY" bench/gpu/qwen_throughput.py "${QWEN_ARGS[@]}" --steps 2 --engine trl --skip-plain \
    --work "$WORK/qwen-trl" --out "$WORK/qwen-trl.json"
fi

section "6. Qwen2-0.5B shape through engine: trl on every GPU, DeepSpeed ZeRO-2"
if [[ $SMOKE == 1 ]]; then
  ZERO2_ARGS=(--processes 2)
else
  GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
  ZERO2=$("$PY" -c 'import pathlib, trl; print(pathlib.Path(trl.__file__).parent / "accelerate_configs" / "zero2.yaml")' 2>/dev/null)
  ZERO2_ARGS=(--processes "$GPUS" --accelerate-config "$ZERO2")
fi
if [[ $SMOKE == 0 ]] && (( GPUS < 2 )); then
  echo "skipped: ${GPUS} GPU(s); ZeRO-2 runs on machines with more than one"
  STATUS+=("qwen_zero2=skipped(${GPUS} GPU)")
elif [[ $SMOKE == 0 ]] && ! "$PY" -c 'import deepspeed' 2>/dev/null; then
  echo "skipped: deepspeed is not installed (pip install deepspeed)"
  STATUS+=("qwen_zero2=skipped(no deepspeed)")
elif [[ $SMOKE == 0 && ! -f $ZERO2 ]]; then
  echo "skipped: TRL's zero2.yaml is not at '${ZERO2}'"
  STATUS+=("qwen_zero2=skipped(no zero2.yaml)")
elif in_budget qwen_zero2; then
  check qwen_zero2 "$((BUDGET - SECONDS))" "$PY" bench/gpu/qwen_throughput.py "${QWEN_ARGS[@]}" --steps 3 --engine trl "${ZERO2_ARGS[@]}" \
    --skip-plain --work "$WORK/qwen-zero2" --out "$WORK/qwen-zero2.json"
fi

section "summary"
timeout -k 10 45 "$PY" - "$WORK" "$NAME" "${STATUS[@]}" <<'EOF'
import json, sys
from pathlib import Path
sys.path.insert(0, "bench")
from machine import write_result
work, name, statuses = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
data = {"benchmark": name, "status": dict(s.split("=", 1) for s in statuses)}
events = work / "arith-run" / "events.jsonl"
if events.is_file():
    rows = []
    for line in events.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut short by a timeout
            pass
    train = [e["values"] for e in rows if e.get("type") == "metrics" and "perf/samples_per_s" in e.get("values", {})]
    evals = [e["values"] for e in rows if e.get("type") in ("metrics", "eval") and "eval/accuracy" in e.get("values", {})]
    if train:
        later = train[1:] or train
        data["arith"] = {"steps": len(train), "samples_per_s_mean_after_first": round(sum(v["perf/samples_per_s"] for v in later) / len(later), 1),
                         "step_s_mean_after_first": round(sum(v["perf/step_s"] for v in later) / len(later), 3),
                         "eval_accuracy": [round(v["eval/accuracy"], 3) for v in evals]}
if (work / "qwen.json").is_file():
    data["qwen05b"] = json.loads((work / "qwen.json").read_text())
if (work / "qwen-trl.json").is_file():
    trl, plain = json.loads((work / "qwen-trl.json").read_text()), (data.get("qwen05b") or {}).get("plain_transformers") or {}
    engine = trl.get("pacslab") or {}
    if "error" not in engine and "error" not in plain and plain:  # against section 3's plain baseline
        trl["rollout_vs_generate"] = round(engine["rollout_new_tokens_per_s"] / plain["generate_new_tokens_per_s"], 3)
        trl["update_vs_forward_backward"] = round(engine["update_tokens_per_s"] / plain["forward_backward_tokens_per_s"], 3)
    data["qwen05b_trl"] = trl
if (work / "qwen-zero2.json").is_file():
    data["qwen05b_zero2"] = json.loads((work / "qwen-zero2.json").read_text())
if (work / "numerics.json").is_file():
    data["numerics05b"] = json.loads((work / "numerics.json").read_text())
path = write_result(name, data)
print(json.dumps({k: v for k, v in data.items() if k not in ("qwen05b", "qwen05b_trl", "qwen05b_zero2", "numerics05b")}, indent=2))
q = data.get("qwen05b")
if q:
    p, t = q.get("pacslab") or {}, q.get("plain_transformers") or {}
    print(f"qwen: rollout {p.get('rollout_new_tokens_per_s')} new tok/s vs generate {t.get('generate_new_tokens_per_s')} ({q.get('rollout_vs_generate')}x); "
          f"update {p.get('update_tokens_per_s')} tok/s vs fwd+bwd {t.get('forward_backward_tokens_per_s')} ({q.get('update_vs_forward_backward')}x); "
          f"peak {p.get('peak_memory_gib')} GiB")
    for part in ("pacslab", "plain_transformers"):
        if (q.get(part) or {}).get("error"):
            print(f"qwen {part} failed: {q[part]['error']}")
m = data.get("numerics05b") or {}
for part in ("precision", "memory", "rollout"):
    if part in m:
        print(f"numerics {part}: {json.dumps(m[part])}")
print(f"wrote {path}")
EOF
echo "status: ${STATUS[*]}"
[[ " ${STATUS[*]} " != *fail* && " ${STATUS[*]} " != *timeout* ]]
