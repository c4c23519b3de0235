#!/usr/bin/env bash
# The one command for this workplace's device machine (an H100 with python3 3.12, torch and
# transformers, no network): from the repository root, with `.whl` carried,
#
#   bash bench/gpu/device.sh
#
# 1. installs the carried wheels (.whl/*.whl: pydantic, math-verify and what they need, which that
#    machine lacks) into /tmp/site and puts it on PYTHONPATH;
# 2. prints nvidia-smi;
# 3. runs bench/gpu-check.sh (its sections under their own timeouts);
# 4. runs the whole trainer suite there (informational: the device's torch and transformers versions,
#    CUDA present), in whatever time is left of DEVICE_BUDGET_S (default 540 s from the start);
# 5. copies the log, bench/results/gpu_check.json and the small result files, flat, into $OUT (at most 9).
# Exits with gpu-check.sh's status.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/device-out}
PYTHON=${PYTHON:-python3}
BUDGET=${DEVICE_BUDGET_S:-540}
WORK=${GPU_CHECK_WORK:-$(pwd)/bench/.work/gpu-check}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
rm -f bench/results/gpu_check.json

main() {
  echo "== wheels [${SECONDS} s in]"
  if compgen -G ".whl/*.whl" >/dev/null; then
    ls -l .whl/
    if "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl; then
      export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
      echo "installed into /tmp/site"
    else
      echo "WHEEL INSTALL FAILED (rc $?): the checks below will miss pydantic/math-verify"
    fi
  else
    echo "no .whl/*.whl here (was .whl carried?)"
  fi

  echo; echo "== nvidia-smi [${SECONDS} s in]"
  timeout 30 nvidia-smi || echo "nvidia-smi failed"
  timeout 60 "$PYTHON" -m pip list 2>/dev/null | grep -iE '^(torch|transformers|tokenizers|huggingface.hub|safetensors|numpy|onnx|onnxruntime|onnxscript|pyarrow|pytest|pytest.timeout|sympy|pyyaml|typing.extensions|pydantic|pydantic.core|math.verify|latex2sympy2.extended|antlr4.python3.runtime) ' || true

  echo; echo "== bench/gpu-check.sh [${SECONDS} s in]"
  PYTHON=$PYTHON bash bench/gpu-check.sh
  local rc=$?
  echo "gpu-check.sh exited $rc [${SECONDS} s in]"

  local left=$((BUDGET - SECONDS))
  ((left > 150)) && left=150
  echo; echo "== the trainer suite on this machine (informational) [${SECONDS} s in, ${left} s allowed]"
  if ((left >= 40)); then
    local extra=()
    "$PYTHON" -c "import pytest_timeout" 2>/dev/null && extra=(--timeout=90)
    (cd trainer && PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" timeout -k 10 "$left" "$PYTHON" -m pytest -q -p no:cacheprovider \
      -rfE --maxfail=15 "${extra[@]}" --junitxml="$OUT/trainer-suite.xml" tests)
    echo "trainer suite exited $? [${SECONDS} s in]"
  else
    echo "skipped: too little time left"
  fi
  return $rc
}

main 2>&1 | tee "$OUT/gpu-check.log"
rc=${PIPESTATUS[0]}

# Small result files, flat (the log and the suite's xml are already there: 7 more at most).
copy() { [[ -f $1 ]] && (($(stat -c %s "$1") < 8000000)) && cp "$1" "$OUT/$2"; }
copy bench/results/gpu_check.json gpu_check.json
copy "$WORK/qwen.json" qwen.json
copy "$WORK/numerics.json" numerics.json
copy "$WORK/qwen/run/run.json" qwen-run.json
copy "$WORK/qwen/run/events.jsonl" qwen-events.jsonl
copy "$WORK/arith-run/run.json" arith-run.json
copy "$WORK/arith-run/events.jsonl" arith-events.jsonl
ls -l "$OUT"
exit "$rc"
