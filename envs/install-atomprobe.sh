#!/usr/bin/env bash
# Post-deploy script of every envs/<group>.yaml (each <group>.post-deploy.sh links here).
# Snakemake runs it once, right after creating the environment, with the environment active and
# in Snakemake's working directory: the repository root, where the Snakefile is. It installs the
# atomprobe package from there, editable (so later edits to src/ apply without rebuilding the
# environment) and without dependencies (the environment file pins those).
# A relative path in the env file's pip section would not do: conda resolves it against the copy
# of the file that Snakemake puts in its conda prefix (.snakemake/conda/ or --conda-prefix).
set -euo pipefail
if ! grep -q '^name = "atomprobe"' pyproject.toml 2>/dev/null; then
    echo "atomprobe post-deploy: run snakemake from the atomprobe repository root" \
        "(no atomprobe pyproject.toml in $PWD)" >&2
    exit 1
fi
python -m pip install --no-deps --editable "$PWD"
