#!/usr/bin/env bash
# Starts a single-node Slurm cluster (munged, slurmctld, slurmd on 127.0.0.1) under a folder, with
# no systemd and no cgroups, for `make test-cluster`. Usage: slurm-up.sh DIR; prints the
# environment to use it (SLURM_CONF, PATH is unchanged). Stop it with slurm-down.sh DIR.
# Installs Debian's slurm-wlm and munge when missing (test/system-deps.sh).
set -euo pipefail
dir="$(realpath -m "${1:?usage: slurm-up.sh DIR}")"
here="$(dirname "$0")"
bash "$here/../system-deps.sh"
if [ "$(id -u)" != 0 ]; then
  echo "slurm-up.sh starts munged as the munge user and slurmd as root: run it as root (or through sudo)." >&2
  exit 1
fi
mkdir -p "$dir"/{munge,spool/ctld,spool/d,log,run}
chmod 755 "$dir" "$dir/munge"
host="$(hostname -s)"
cpus="$(nproc)"
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))

# munge: its own key and socket; the socket's folder must be 755, the key's folder 700.
mkdir -p "$dir/munge/etc" "$dir/munge/lib" "$dir/munge/log" "$dir/munge/run"
chmod 700 "$dir/munge/etc" "$dir/munge/lib" "$dir/munge/log"
chmod 755 "$dir/munge/run"
[ -f "$dir/munge/etc/munge.key" ] || dd if=/dev/urandom of="$dir/munge/etc/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/etc/munge.key"
chown -R munge:munge "$dir/munge"
if ! setpriv --reuid=munge --regid=munge --clear-groups test -x "$dir/munge"; then
  echo "The munge user cannot enter $dir/munge: a folder above it is not searchable by others (mode 700?). Pass a DIR under a folder with mode 755, e.g. one made by mktemp -d directly under /tmp." >&2
  exit 1
fi
socket="$dir/munge/run/munge.socket"
setpriv --reuid=munge --regid=munge --clear-groups munged --key-file="$dir/munge/etc/munge.key" \
  --socket="$socket" --pid-file="$dir/munge/run/munged.pid" --log-file="$dir/munge/log/munged.log" \
  --seed-file="$dir/munge/lib/munge.seed"
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done

# PACS_SLURM_ACCOUNTING=1: accounting too (a private MariaDB and slurmdbd, associations enforced),
# so that sbatch refuses an account it does not know as a real cluster does.
accounting="AccountingStorageType=accounting_storage/none"
if [ "${PACS_SLURM_ACCOUNTING:-0}" = 1 ]; then
  for tool in mariadb-install-db mariadbd slurmdbd; do
    command -v "$tool" >/dev/null || { echo "PACS_SLURM_ACCOUNTING=1 needs $tool: apt-get install slurmdbd mariadb-server" >&2; exit 1; }
  done
  dbd_port="${PACS_SLURMDBD_PORT:-16820}"
  accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStorageEnforce=associations
AccountingStoragePass=$socket"
fi

cat > "$dir/slurm.conf" <<CONF
ClusterName=pacs-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${PACS_SLURMCTLD_PORT:-16817}
SlurmdPort=${PACS_SLURMD_PORT:-16818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$accounting
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
EnforcePartLimits=ALL
MinJobAge=300
KillWait=5
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
if [ "${PACS_SLURM_ACCOUNTING:-0}" = 1 ]; then
  db_port="${PACS_MARIADB_PORT:-16819}"
  mkdir -p "$dir/db"
  mariadb-install-db --no-defaults --datadir="$dir/db/data" --user=root --auth-root-authentication-method=socket \
    --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 || { tail -n 20 "$dir/log/mariadb-install.log" >&2; exit 1; }
  mariadbd --no-defaults --datadir="$dir/db/data" --socket="$dir/db/mariadb.sock" --pid-file="$dir/db/mariadb.pid" \
    --bind-address=127.0.0.1 --port="$db_port" --user=root --log-error="$dir/log/mariadb.log" >/dev/null 2>&1 &
  echo $! > "$dir/run/mariadbd.daemon-pid"
  for _ in $(seq 100); do [ -S "$dir/db/mariadb.sock" ] && break; sleep 0.2; done
  mariadb --no-defaults --socket="$dir/db/mariadb.sock" -u root \
    -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'pacs-test'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$socket
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=pacs-test
StorageLoc=slurm_acct_db
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
CONF
  chmod 600 "$dir/slurmdbd.conf"
  # slurmdbd reads slurmdbd.conf beside $SLURM_CONF
  slurmdbd -D >"$dir/log/slurmdbd.out" 2>&1 &
  echo $! > "$dir/run/slurmdbd.daemon-pid"
  for _ in $(seq 50); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -n show cluster >/dev/null || { echo "slurmdbd did not answer; see $dir/log/slurmdbd.log" >&2; exit 1; }
  # the cluster, an account and root's association, before slurmctld registers
  sacctmgr -i add cluster pacs-test >/dev/null
  sacctmgr -i add account pacs-test-account >/dev/null
  sacctmgr -i add user "$(id -un)" account=pacs-test-account >/dev/null
fi
slurmctld -D -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
echo $! > "$dir/run/slurmctld.daemon-pid"
slurmd -D -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
echo $! > "$dir/run/slurmd.daemon-pid"
for _ in $(seq 100); do
  if sinfo -h -o %t 2>/dev/null | grep -qx idle; then echo "SLURM_CONF=$SLURM_CONF"; exit 0; fi
  sleep 0.2
done
echo "Slurm did not come up in 20 s; see $dir/log/" >&2
sinfo >&2 || true
tail -n 20 "$dir"/log/*.log >&2 || true
exit 1
