#!/usr/bin/env bash
# Start a private one-node SLURM cluster on 127.0.0.1, with accounting, for the cluster test.
#
#   .ci/slurm/start.sh STATE_DIR      # then: source STATE_DIR/env.sh; sbatch ...; sacct
#   .ci/slurm/stop.sh STATE_DIR       # stops exactly the daemons started here (pids in STATE_DIR)
#
# Everything (configs, keys, database, spool, logs, pid files) lives in STATE_DIR; nothing under
# /etc is touched, so a system SLURM or MariaDB on the machine is neither used nor disturbed.
# Daemons: munged (auth), mariadbd (accounting database), slurmdbd (accounting daemon: the
# Snakemake SLURM executor follows jobs with `sacct`, which needs it), slurmctld, slurmd.
# The node offers all local CPUs and memory (as `slurmd -C` reports them) and one *fake* GPU
# (/dev/null as its device file), so that rules asking for `gpu=1` are scheduled through the
# GPU partition exactly as on a real cluster; no CUDA device exists and jobs run on the CPU.
# Ports (override with the environment): SLURMCTLD_PORT 16817, SLURMD_PORT 16818,
# SLURMDBD_PORT 16819, MARIADB_PORT 13306. Needs root (daemons run as root, jobs as the caller).
set -euo pipefail

state=${1:?usage: start.sh STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)
ctld_port=${SLURMCTLD_PORT:-16817}
slurmd_port=${SLURMD_PORT:-16818}
dbd_port=${SLURMDBD_PORT:-16819}
db_port=${MARIADB_PORT:-13306}
cluster=atomprobe
account=atomprobe-ci
node=atomprobe-node
user=$(id -un)

if [ "$(id -u)" -ne 0 ]; then
    echo "start.sh: error: must run as root (the SLURM daemons run as root here)" >&2
    exit 2
fi
if [ -e "$state/mysql/data" ]; then
    echo "start.sh: error: $state already holds a cluster; stop.sh it and use a fresh directory" >&2
    exit 2
fi
mkdir -p "$state"/{etc,munge,mysql,run,log,ctld,slurmd}
pids="$state/run/pids"
: >"$pids"

log() { echo "start.sh: $*"; }

# If anything below fails, stop whatever was already started.
started=0
trap '[ "$started" -eq 1 ] || "$(dirname "$0")/stop.sh" "$state"' EXIT

# launch NAME COMMAND...: run COMMAND in the background, output to log/NAME.out; record
# "NAME PID" for stop.sh.
launch() {
    local name=$1
    shift
    "$@" >"$state/log/$name.out" 2>&1 &
    echo "$name $!" >>"$pids"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "start.sh: error: $what not ready after ${seconds}s; logs in $state/log" >&2
            tail -n 20 "$state"/log/* >&2 || true
            exit 1
        fi
        sleep 0.2
    done
}

# --- munge -----------------------------------------------------------------------------------
munge_socket="$state/munge/munge.socket"
mungekey --create --keyfile="$state/munge/munge.key" --force
chmod 600 "$state/munge/munge.key"
launch munged munged --foreground --force --socket="$munge_socket" \
    --key-file="$state/munge/munge.key" --pid-file="$state/munge/munged.pid" \
    --seed-file="$state/munge/munged.seed" --log-file="$state/log/munged.log"
wait_for 20 munged test -S "$munge_socket"

# --- MariaDB (accounting database) -----------------------------------------------------------
db_socket="$state/mysql/mysqld.sock"
mariadb-install-db --no-defaults --datadir="$state/mysql/data" --user="$user" \
    --auth-root-authentication-method=socket --skip-test-db >"$state/log/mariadb-install.out" 2>&1
launch mariadbd mariadbd --no-defaults --datadir="$state/mysql/data" --user="$user" \
    --socket="$db_socket" --port="$db_port" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$state/mysql/mysqld.pid" --log-error="$state/log/mariadb.log" \
    --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900
wait_for 60 mariadbd mariadb-admin --no-defaults --socket="$db_socket" -u root ping
db_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
mariadb --no-defaults --socket="$db_socket" -u root <<SQL
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

# --- SLURM configuration ---------------------------------------------------------------------
# slurmd -C prints this machine's "NodeName=host CPUs=.. Boards=.. ... RealMemory=.." line.
hardware=$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+ //')
cat >"$state/etc/slurm.conf" <<CONF
ClusterName=$cluster
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
# for slurmdbd connections SLURM takes the munge socket from here, not from AuthInfo
AccountingStoragePass=$munge_socket
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations
JobCompType=jobcomp/none
# store sbatch --comment (the executor puts the rule name there) so that sacct shows it
AccountingStoreFlags=job_comment
GresTypes=gpu
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
NodeName=$node NodeAddr=127.0.0.1 $hardware Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
CONF
# A fake GPU: SLURM needs a device file for gres/gpu, so /dev/null stands in for it. It is
# scheduled and accounted like a real one (and SLURM sets CUDA_VISIBLE_DEVICES=0 in GPU jobs),
# but no CUDA device exists, so atomprobe's device "auto" resolves to the CPU.
echo "NodeName=$node Name=gpu Count=1 File=/dev/null" >"$state/etc/gres.conf"
cat >"$state/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$munge_socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$state/run/slurmdbd.pid
LogFile=$state/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=$db_password
StorageLoc=slurm_acct_db
CONF
chmod 600 "$state/etc/slurmdbd.conf"
export SLURM_CONF="$state/etc/slurm.conf"
# Inside a job, Snakemake's slurm-jobstep executor starts the rule with a nested `srun` after
# removing every SLURM_* variable from its environment, SLURM_CONF included. A real cluster keeps
# its config at the default /etc/slurm/slurm.conf (or serves it configless), so srun finds it
# anyway; this private cluster keeps it here, so an `srun` on PATH restores SLURM_CONF.
mkdir -p "$state/bin"
cat >"$state/bin/srun" <<SRUN
#!/bin/sh
SLURM_CONF="$SLURM_CONF" exec $(command -v srun) "\$@"
SRUN
chmod 755 "$state/bin/srun"
cat >"$state/env.sh" <<ENV
# source this to talk to the test cluster (sbatch, squeue, sacct, sacctmgr, scontrol, srun)
export SLURM_CONF="$SLURM_CONF"
export PATH="$state/bin:\$PATH"
ENV

# --- daemons ---------------------------------------------------------------------------------
launch slurmdbd slurmdbd -D
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$cluster" >/dev/null
sacctmgr -i add account "$account" Description="atomprobe CI" Organization=atomprobe >/dev/null
sacctmgr -i add user "$user" Account="$account" DefaultAccount="$account" >/dev/null
launch slurmctld slurmctld -D -i
wait_for 60 slurmctld scontrol ping
launch slurmd slurmd -D -N "$node"
node_idle() { [ "$(sinfo -h -n "$node" -o %t | sort -u | head -n 1)" = idle ]; }
wait_for 60 "node $node" node_idle
started=1
log "cluster '$cluster' up: $(sinfo -h -o '%P %D %c %m %G %t' | tr '\n' ';') account $account"
log "use: source $state/env.sh"
