#!/usr/bin/env bash
# `make bench`: every benchmark, results in bench/results/*.json and the tables in BENCHMARKS.md.
#
#   bash bench/run.sh                      # all (the learning table last: it is the longest)
#   bash bench/run.sh trl scale onnx       # some: trl | trl-realistic | trl-engine | learning | scale | onnx | gpu-smoke | kill | report
#   bash bench/run.sh kill                 # the kill sweep (20 kill -9s, each run resumed; not in the default set)
#   LEARNING_STEPS=40 bash bench/run.sh learning   # the learning table with fewer steps than the config's
#
# bench/gpu-check.sh is the device check; it is not run here (it needs a CUDA machine), except as
# `gpu-smoke`, its toy-size CPU run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=$ROOT/.venv/bin/python
# this checkout's trainer, also where .venv has an editable install of another one (a worktree)
export PYTHONPATH="$ROOT/trainer${PYTHONPATH:+:$PYTHONPATH}"
NICE=(nice -n 5)

# not niced: both sides share the same load; then where pacslab's step time goes (step_profile.py reads run.py's result)
run_trl() { "$PY" bench/trainer_vs_trl/run.py; "$PY" bench/trainer_vs_trl/step_profile.py --compile; }
run_trl_realistic() { "$PY" bench/trainer_vs_trl/run.py --shape realistic; }
run_trl_engine() { "$PY" bench/trl_engine/run.py; }
run_learning() {
  "$PY" bench/learning_table/run.py ${LEARNING_STEPS:+--steps "$LEARNING_STEPS"}
  "$PY" bench/learning_table/trl_rows.py ${LEARNING_STEPS:+--steps "$LEARNING_STEPS"}  # its PACS and GRPO rows on engine: trl
}
run_scale() { "${NICE[@]}" "$PY" bench/extension_scale/run.py; "${NICE[@]}" "$PY" bench/extension_scale/reasoning.py; }
run_onnx() { "${NICE[@]}" "$PY" bench/onnx_latency/run.py; }
run_gpu_smoke() { "${NICE[@]}" bash bench/gpu-check.sh --cpu-smoke; }
run_kill() { "${NICE[@]}" "$PY" bench/kill_sweep/run.py; }
run_report() { "$PY" bench/report.py; }

if [[ ! -f dist/webview/dashboard.js ]]; then node esbuild.mjs; fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(trl trl-realistic trl-engine scale onnx gpu-smoke learning)
for target in "${targets[@]}"; do
  echo "== bench: $target"
  case $target in
    trl) run_trl ;;
    trl-realistic) run_trl_realistic ;;
    trl-engine) run_trl_engine ;;
    learning) run_learning ;;
    scale) run_scale ;;
    onnx) run_onnx ;;
    gpu-smoke) run_gpu_smoke ;;
    kill) run_kill ;;
    report) ;;
    *) echo "unknown benchmark '$target': use trl, trl-realistic, trl-engine, learning, scale, onnx, gpu-smoke, kill or report" >&2; exit 2 ;;
  esac
done
run_report
