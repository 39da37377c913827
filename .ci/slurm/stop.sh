#!/usr/bin/env bash
# Stop the daemons that start.sh STATE_DIR started, newest first, by the pids it recorded
# (never by name), after cancelling the cluster's remaining jobs. Waits up to 20 s per daemon for
# a clean exit, then kills it.
set -uo pipefail

state=${1:?usage: stop.sh STATE_DIR}
pids="$state/run/pids"
if [ ! -f "$pids" ]; then
    echo "stop.sh: nothing to stop ($pids not found)"
    exit 0
fi
# Jobs first: a job step (slurmstepd) outlives a stopped slurmd. Cancel what is still queued or
# running and wait (up to 20 s) until slurmctld has cleaned it up.
ctld_pid=$(awk '$1 == "slurmctld" {print $2}' "$pids")
if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null; then
    export SLURM_CONF="$state/etc/slurm.conf"
    jobs=$(squeue --noheader --format=%A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        echo "stop.sh: cancelling jobs $(echo $jobs)"
        # shellcheck disable=SC2086
        scancel $jobs
        for _ in $(seq 100); do
            [ -z "$(squeue --noheader --format=%A 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
fi
tac "$pids" | while read -r name pid; do
    if ! kill -0 "$pid" 2>/dev/null; then
        continue
    fi
    kill -TERM "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "stop.sh: $name (pid $pid) ignored SIGTERM for 20 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    echo "stop.sh: stopped $name (pid $pid)"
done
rm -f "$pids"
