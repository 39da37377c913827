#!/usr/bin/env bash
# End-to-end cluster test: install Debian's SLURM, start a one-node cluster on 127.0.0.1, run
# the pipeline through `snakemake --profile .ci/slurm/profile` (the SLURM executor), list the
# jobs with sacct, stop the cluster. Run as root; tests/test_cluster.py runs it in CI.
#
#   .ci/slurm/run-test.sh WORKDIR [SNAKEMAKE ARGS...]
#
# Without arguments it runs the targets in DEFAULT_ARGS below. WORKDIR receives: cluster/
# (configs, database, daemon logs), repo/ (a copy of this working tree, where the pipeline runs
# and writes results/), snakemake.log and sacct.txt (`sacct --parsable2`, one line per job).
# The Snakemake run is limited to CLUSTER_TEST_TIMEOUT seconds (default 220); then it is
# interrupted (SIGINT: Snakemake cancels its SLURM jobs). The daemons are stopped on any exit.
set -euo pipefail

# A subset of the tiny DAG, the start of its longest chain: qm9 -> splits (CPU rules, cpu
# partition) -> train_model for one tiny model (a GPU rule: --gpus=1 on the gpu partition). The
# whole tiny DAG (66 jobs, each paying Snakemake's start-up twice plus the executor's status
# polling, 10-45 s a job on 2 cores) does not fit the test's time budget.
DEFAULT_ARGS=(results/models/schnet_gap/metrics.json --configfile config/tiny.yaml)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:?usage: run-test.sh WORKDIR [SNAKEMAKE ARGS...]}
shift
[ $# -gt 0 ] || set -- "${DEFAULT_ARGS[@]}"
mkdir -p "$work"
work=$(cd "$work" && pwd)
venv_bin=${ATOMPROBE_VENV_BIN:-$repo/.venv/bin}
budget=${CLUSTER_TEST_TIMEOUT:-220}

"$here/install.sh"
"$here/stop.sh" "$work/cluster" >/dev/null # daemons left by an interrupted earlier run, if any
rm -rf "$work/cluster"
trap '"$here/stop.sh" "$work/cluster"' EXIT
"$here/start.sh" "$work/cluster"
# shellcheck source=/dev/null
source "$work/cluster/env.sh"
# Jobs inherit this PATH (sbatch --export=ALL), so they run the same venv's python.
export PATH="$venv_bin:$PATH"

# A copy of the working tree (tracked and untracked, minus git-ignored files), so that the
# run's results/ and .snakemake/ stay out of the repository.
rm -rf "$work/repo"
mkdir -p "$work/repo"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$work/repo"

started=$(date +%Y-%m-%dT%H:%M:%S)
echo "run-test.sh: snakemake --profile $here/profile $*"
set +e
(cd "$work/repo" && timeout --signal=INT --kill-after=20 "$budget" \
    snakemake --profile "$here/profile" "$@") >"$work/snakemake.log" 2>&1
status=$?
set -e
tail -n 5 "$work/snakemake.log"
[ "$status" -eq 124 ] && echo "run-test.sh: snakemake interrupted after ${budget}s" >&2

fields=JobID,Comment%60,Partition,Account,AllocTRES%50,State,ExitCode,Elapsed
sacct --allusers -X --starttime="$started" --format="$fields"
sacct --allusers -X --starttime="$started" --format="$fields" --parsable2 >"$work/sacct.txt"
exit "$status"
