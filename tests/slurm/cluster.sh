#!/usr/bin/env bash
# A real single-node SLURM cluster for the tests: munge, MariaDB, slurmdbd, slurmctld and slurmd from Debian's
# packages, every file (configs, state, logs, sockets, the database) in one folder, and every process it starts
# recorded by pid so that `stop` ends exactly those.
#
#   tests/slurm/cluster.sh start DIR    install what is missing (root and apt only), write the configs, start, wait
#                                       until `sinfo` shows the node idle; prints SLURM_CONF=DIR/slurm.conf
#   tests/slurm/cluster.sh stop DIR     stop every process start recorded in DIR/pids (newest first)
#
# Ports: AURA_SLURM_PORT (default 16817) for slurmctld, +1 slurmd, +2 slurmdbd, +3 MariaDB, all on loopback.
# Exit 3 with one line on stderr when the cluster cannot run here (the tests then skip with that line).
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop DIR}
dir=${2:?usage: cluster.sh start|stop DIR}
port=${AURA_SLURM_PORT:-16817}
packages=(slurm-wlm slurmdbd mariadb-server munge)

cannot() { echo "slurm cluster: $*" >&2; exit 3; }

stop() {  # every daemon at once (the cluster's state is thrown away), then whatever is left after 10 s is killed
  [ -f "$dir/pids" ] || return 0
  pids=$(awk '{print $2}' "$dir/pids")
  kill $pids 2>/dev/null || true
  for _ in $(seq 100); do
    alive=$(for pid in $pids; do ! kill -0 "$pid" 2>/dev/null || echo "$pid"; done)
    [ -z "$alive" ] && break
    sleep 0.1
  done
  [ -z "$alive" ] || kill -9 $alive 2>/dev/null || true
  rm -f "$dir/pids"
}

record() {  # name pidfile: wait for the daemon's pid file and record the pid
  for _ in $(seq 150); do [ -s "$2" ] && break; sleep 0.2; done
  [ -s "$2" ] || { tail -5 "$dir"/*.log >&2 2>/dev/null; cannot "$1 did not start (no $2)"; }
  echo "$1 $(cat "$2")" >> "$dir/pids"
}

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || cannot "packages ${missing[*]} missing and not root to install them"
  command -v apt-get >/dev/null || cannot "packages ${missing[*]} missing and no apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
    || cannot "apt-get install ${missing[*]} failed"
}

start() {
  [ "$(id -u)" = 0 ] || cannot "needs root (SlurmUser=root, a private MariaDB)"
  install_packages
  for b in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sinfo; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || cannot "$b not found"
  done
  export PATH="/usr/sbin:$PATH"
  stop
  rm -rf "$dir"; mkdir -p "$dir"/{state,spool,db}
  chmod 755 "$dir"   # munged (the munge user) must reach its socket folder
  local host; host=$(hostname -s)
  local cpus; cpus=$(nproc)

  # munge on its standard socket (the one every SLURM client asks); one already answering there is used, not owned
  [ -r /etc/munge/munge.key ] || cannot "/etc/munge/munge.key missing"
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge "$dir/munge"; chown munge: /run/munge "$dir/munge"; chmod 755 /run/munge
    runuser -u munge -- munged --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
      --seed-file="$dir/munge/munged.seed" || cannot "munged did not start"
    record munged "$dir/munge/munged.pid"
  fi

  # MariaDB: a private data folder on a loopback port
  mariadb-install-db --no-defaults --datadir="$dir/db" --user=root --auth-root-authentication-method=normal \
    --skip-test-db > "$dir/mariadb-install.log" 2>&1 || cannot "mariadb-install-db failed (see $dir/mariadb-install.log)"
  mariadbd --no-defaults --datadir="$dir/db" --socket="$dir/mysql.sock" --port=$((port + 3)) \
    --bind-address=127.0.0.1 --user=root --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.log" \
    --innodb-buffer-pool-size=32M --skip-log-bin > /dev/null 2>&1 &
  record mariadbd "$dir/mariadbd.pid"
  for _ in $(seq 100); do mariadb --no-defaults -S "$dir/mysql.sock" -uroot -e "select 1" >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb --no-defaults -S "$dir/mysql.sock" -uroot -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'aura';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || cannot "could not create the accounting user"

  cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((port + 2))
SlurmUser=root
PidFile=$dir/slurmdbd.pid
LogFile=$dir/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((port + 3))
StorageUser=slurm
StoragePass=aura
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$dir/slurmdbd.conf"

  cat > "$dir/slurm.conf" <<CONF
ClusterName=aura
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((port + 2))
ReturnToService=2
KillWait=5
MinJobAge=300
MessageTimeout=20
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"

  slurmdbd || cannot "slurmdbd did not start (see $dir/slurmdbd.log)"
  record slurmdbd "$dir/slurmdbd.pid"
  for _ in $(seq 50); do timeout 5 sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -i add cluster aura >/dev/null || cannot "sacctmgr could not add the cluster (see $dir/slurmdbd.log)"
  slurmctld -i || cannot "slurmctld did not start (see $dir/slurmctld.log)"
  record slurmctld "$dir/slurmctld.pid"
  slurmd -N "$host" || cannot "slurmd did not start (see $dir/slurmd.log)"
  record slurmd "$dir/slurmd.pid"
  for _ in $(seq 150); do
    [ "$(sinfo -h -N -o %T 2>/dev/null | head -1)" = idle ] && { echo "SLURM_CONF=$SLURM_CONF"; return 0; }
    sleep 0.2
  done
  sinfo -N >&2 || true
  cannot "the node did not become idle (see $dir/slurmctld.log, $dir/slurmd.log)"
}

case "$cmd" in
  start) trap 'rc=$?; [ $rc -ne 0 ] && stop; exit $rc' EXIT; start; trap - EXIT ;;
  stop) stop ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
