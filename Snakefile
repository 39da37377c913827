"""atomprobe: regenerate the tables and figures of the CPD and feature-reconstruction papers.

snakemake --cores all                                   # default config, runs on a laptop
snakemake --cores all --profile profiles/paper         # paper scale (GPU recommended)
snakemake --profile profiles/slurm --profile profiles/paper   # paper scale on a SLURM cluster
"""

import sys

from snakemake.utils import min_version

from atomprobe.preflight import check_config, check_resource_rules
from atomprobe.errors import AtomprobeError

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


try:  # the config files (a key given twice, which Snakemake's loader keeps) and the schemas
    check_config(config, workflow.configfiles)
except AtomprobeError as exc:
    sys.exit(f"atomprobe: {exc}")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/cpd.smk"
include: "workflow/rules/sweeps.smk"
include: "workflow/rules/reconstruction.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


try:  # set-resources/set-threads name rules that exist (known once every rule file is read)
    check_resource_rules(
        [
            *workflow.resource_settings.overwrite_resources,
            *workflow.resource_settings.overwrite_threads,
        ],
        [r.name for r in workflow.rules],
    )
except AtomprobeError as exc:
    sys.exit(f"atomprobe: {exc}")


rule all:
    default_target: True
    input:
        final_outputs(),
