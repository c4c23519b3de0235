#!/usr/bin/env bash
# End-to-end test in a real VS Code: code-server 4.100.3 with the packaged .vsix, driven by
# Playwright in Debian's Chromium. `make test-e2e` packages first; screenshots and logs land in
# test-results/e2e/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VSIX="${PACS_E2E_VSIX:-$ROOT/pacs-lab-linux-x64.vsix}"
OUT="$ROOT/test-results/e2e"
PYTHON_BIN="${PACS_PYTHON:-$ROOT/.venv/bin/python}"

[ -f "$VSIX" ] || { echo "No $(basename "$VSIX"): run \`make package\` (or \`make test-e2e\`) first." >&2; exit 1; }
[ -x "$PYTHON_BIN" ] || { echo "No trainer Python at $PYTHON_BIN: run \`make setup\` first." >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "Debian's chromium is missing: apt-get install chromium (make test does this: test/system-deps.sh)." >&2; exit 1; }
EXAMPLES="${PACS_E2E_EXAMPLES:-$ROOT/examples}"
[ -f "$EXAMPLES/arith.pacs.yaml" ] || { echo "examples/arith.pacs.yaml is missing: the test opens it." >&2; exit 1; }

bash "$ROOT/test/e2e/setup-code-server.sh"
CODE_SERVER="$ROOT/.cache/code-server-4.100.3/node_modules/.bin/code-server"

rm -rf "$OUT" && mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pacs-e2e.XXXXXX")"
WORKSPACE="$WORK/workspace"
EXTENSIONS="$WORK/extensions"

stop_trainers() {
  # Trainers outlive the extension host by design (a window reload must find them running).
  local run_json pid
  for run_json in "$WORKSPACE"/.pacs/runs/*/run.json; do
    [ -f "$run_json" ] || continue
    pid="$(node -e 'try{const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));if(r.pid)console.log(r.pid)}catch{}' "$run_json")"
    if [ -n "$pid" ] && grep -q pacslab "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    fi
  done
}
finish() {
  stop_trainers
  if [ -n "${SLURM_DIR:-}" ]; then bash "$ROOT/test/cluster/slurm-down.sh" "$SLURM_DIR"; rm -rf "$SLURM_DIR"; fi
  for dir in "$WORKSPACE"/.pacs/runs/*/; do
    [ -f "$dir/trainer.log" ] && tail -n 60 "$dir/trainer.log" > "$OUT/trainer-$(basename "$dir").log.tail"
  done
  if [ "${PACS_E2E_KEEP:-0}" = 1 ]; then echo "Kept $WORK"; else rm -rf "$WORK" || true; fi
}
trap finish EXIT

echo "Installing $(basename "$VSIX") into a fresh extensions folder"
"$CODE_SERVER" --config "$WORK/install-data/config.yaml" --extensions-dir "$EXTENSIONS" --user-data-dir "$WORK/install-data" \
  --install-extension "$VSIX" > "$OUT/install-extension.log" 2>&1 \
  || { cat "$OUT/install-extension.log" >&2; exit 1; }

# The workspace is a copy of examples/ in its own git repository, left dirty so that launching takes
# a snapshot. The run is made long (it is stopped by the test) and its steps small.
mkdir -p "$WORKSPACE"
cp -r "$EXAMPLES"/. "$WORKSPACE/"
node "$ROOT/test/e2e/e2eConfig.mjs" "$WORKSPACE/arith.pacs.yaml"
node "$ROOT/test/e2e/e2eConfig.mjs" "$WORKSPACE/arith.pacs.yaml" --trl "$WORKSPACE/arith-trl.pacs.yaml"
# The Slurm stage: a single-node cluster (as root; test/cluster/slurm-up.sh) and a copy of the
# config that submits to it, its job held until the test releases it. A PACS_E2E_ONLY that does not
# name Slurm starts none (a cluster of another test on this machine may hold its ports).
slurm_wanted() { [ -z "${PACS_E2E_ONLY:-}" ] || grep -qi slurm <<<"$PACS_E2E_ONLY"; }
if [ "$(id -u)" = 0 ] && command -v slurmctld >/dev/null && slurm_wanted; then
  # A folder of its own: the munge user cannot enter $WORK (mode 700).
  SLURM_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pacs-e2e-slurm.XXXXXX")"
  bash "$ROOT/test/cluster/slurm-up.sh" "$SLURM_DIR" > "$OUT/slurm-up.log" 2>&1 || { cat "$OUT/slurm-up.log" >&2; exit 1; }
  export SLURM_CONF="$SLURM_DIR/slurm.conf"
  node "$ROOT/test/e2e/e2eConfig.mjs" "$WORKSPACE/arith.pacs.yaml" --slurm "$WORKSPACE/arith-slurm.pacs.yaml"
fi
git -C "$WORKSPACE" init -q -b main
git -C "$WORKSPACE" -c user.name=e2e -c user.email=e2e@example.invalid add -A
git -C "$WORKSPACE" -c user.name=e2e -c user.email=e2e@example.invalid commit -q -m "examples"
echo "# edited after the commit: the run records a snapshot of this" >> "$WORKSPACE/arith.pacs.yaml"

export PACS_E2E_CODE_SERVER="$CODE_SERVER" PACS_E2E_EXTENSIONS="$EXTENSIONS" PACS_E2E_WORK="$WORK" \
  PACS_E2E_WORKSPACE="$WORKSPACE" PACS_E2E_OUT="$OUT" PACS_E2E_PYTHON="$PYTHON_BIN"
status=0
# PACS_E2E_ONLY=<pattern>: only the sessions and stages whose names match (node --test-name-pattern).
# PACS_E2E_FILES: the test files to run (default: all). Node 20 still runs the before hooks of a
# session that PACS_E2E_ONLY leaves out (they start code-server), so naming its file saves minutes.
# One node per file, in this order (node --test would sort them): the main session starts in a
# workspace without runs, the comparison session adds four, the verifier session one more, the sweep session its own,
# the diagnostics session one that its alert pauses.
# Each file's output is also kept; the failures of every file are printed again at the end, where a
# log that keeps only its tail (CI's) still shows them.
failed=()
for file in ${PACS_E2E_FILES:-test/e2e/e2e.test.mjs test/e2e/compare.test.mjs test/e2e/verifier.test.mjs test/e2e/sweep.test.mjs test/e2e/diagnostics.test.mjs}; do
  report="$OUT/$(basename "$file" .mjs).out"
  node --test --test-reporter=spec --test-concurrency=1 ${PACS_E2E_ONLY:+--test-name-pattern="$PACS_E2E_ONLY"} "$file" 2>&1 | tee "$report" && rc=0 || rc=$?  # pipefail: node's status
  if [ "$rc" != 0 ]; then status=$rc; failed+=("$report"); fi
done
for report in "${failed[@]}"; do
  echo "== failed in ${report#"$ROOT"/}:"
  sed -n '/✖ failing tests:/,$p' "$report" | head -n 120
done
echo "Screenshots and logs: ${OUT#"$ROOT"/}/"
exit $status
