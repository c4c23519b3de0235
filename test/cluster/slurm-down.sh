#!/usr/bin/env bash
# Stops the cluster slurm-up.sh DIR started, by pid: the queue drained first, then slurmd before
# slurmctld (the other order makes slurmd wait 9 s for its controller), then slurmdbd and MariaDB
# when accounting was started, then munged.
set -uo pipefail
dir="$(realpath -m "${1:?usage: slurm-down.sh DIR}")"
export SLURM_CONF="$dir/slurm.conf"
if [ -f "$SLURM_CONF" ]; then
  scancel --full --user="$(id -un)" 2>/dev/null
  for _ in $(seq 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
fi
stop() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}
stop "$dir/run/slurmd.daemon-pid"
stop "$dir/run/slurmctld.daemon-pid"
stop "$dir/run/slurmdbd.daemon-pid"
stop "$dir/run/mariadbd.daemon-pid"
stop "$dir/munge/run/munged.pid"
rm -f "$dir"/run/*.daemon-pid
