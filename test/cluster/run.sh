#!/usr/bin/env bash
# `make test-cluster`: starts a single-node Slurm under a temporary folder (slurm-up.sh), runs the
# tests against it with SLURM_CONF set, and stops it by pid (slurm-down.sh), whatever the outcome.
# Accounting is on (slurmdbd and a private MariaDB) unless PACS_SLURM_ACCOUNTING=0.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="$(mktemp -d "${TMPDIR:-/tmp}/pacs-slurm-XXXXXX")"
cleanup() {
  bash test/cluster/slurm-down.sh "$dir"
  if [ "${PACS_CLUSTER_KEEP:-}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
PACS_SLURM_ACCOUNTING="${PACS_SLURM_ACCOUNTING:-1}" bash test/cluster/slurm-up.sh "$dir"
export SLURM_CONF="$dir/slurm.conf" PACS_SLURM_ACCOUNTING="${PACS_SLURM_ACCOUNTING:-1}"
status=0
node --import tsx --test --test-reporter=spec test/cluster/*.test.ts || status=$?
if [ $status -ne 0 ]; then
  echo "--- Slurm logs ($dir/log)" >&2
  tail -n 30 "$dir"/log/*.log >&2 || true
fi
exit $status
