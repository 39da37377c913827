#!/usr/bin/env bash
# Install Debian's SLURM (controller, node daemon, accounting daemon), munge and MariaDB.
# Needs root and apt (Debian 12 ships SLURM 22.05). Does nothing if everything is already there.
# Daemons are not started here (start.sh runs private instances); a service that the package
# manager starts on its own (on machines with systemd) is left alone and never used.
set -euo pipefail

needed=(slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mungekey mariadbd mariadb-install-db)
missing=()
for tool in "${needed[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: SLURM, munge and MariaDB already installed"
    exit 0
fi
echo "install.sh: missing ${missing[*]}; installing Debian packages"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: error: must run as root to apt-get install" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 tells invoke-rc.d not to start the packaged services during install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
trap '[ "$created_policy" -eq 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurmdbd slurm-client munge mariadb-server mariadb-client >/dev/null
echo "install.sh: installed $(sinfo --version)"
