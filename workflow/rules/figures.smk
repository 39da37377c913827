"""Tables and figures of the papers, rendered from cached parquet results only.

One rule per table (CSV + Markdown + LaTeX under figures/tables/) and per figure (PDF + PNG under
figures/). Each reads only the inputs it needs (atomprobe.render.steps.NEEDS): editing a plot
re-renders that plot and never recomputes a model. An analysis that no rule produces (not
configured) is left out of the inputs and its panel or table says "not run".
"""

from pathlib import Path

import atomprobe.render
from atomprobe.render.figures import FIGURES
from atomprobe.render.steps import NEEDS
from atomprobe.render.tables import TABLES

RENDER = config["render"]
REGISTRY_PARQUET = "results/models/registry.parquet"
# the render code itself (modules and claims.yaml, as imported): editing it re-renders every
# table and figure, and nothing upstream
RENDER_CODE = sorted(
    str(p) for p in Path(atomprobe.render.__file__).parent.iterdir() if p.suffix in (".py", ".yaml")
)


def producible(path):
    """True if a rule of this workflow makes ``path`` or the file is already there."""
    return Path(path).exists() or any(rule.is_producer(path) for rule in workflow.rules)


def cpd_paths():
    """CPD score files of every configured (model, dataset) pair (CPD_PAIRS, cpd.smk)."""
    return [f"results/cpd/{model}/{dataset}.parquet" for model, dataset in CPD_PAIRS]


def render_inputs(item):
    """Named inputs of one table, figure or the report (atomprobe.render.steps.NEEDS + code)."""
    inputs = {"code": RENDER_CODE}
    for need in NEEDS[item]:
        if need == "registry":
            inputs["registry"] = REGISTRY_PARQUET
        elif need == "cpd":
            inputs["cpd"] = [p for p in cpd_paths() if producible(p)]
        elif producible(path := f"results/analyses/{need}.parquet"):
            inputs[need] = path
    return inputs


for _table in TABLES:

    rule:
        name:
            f"table_{_table}"
        input:
            **render_inputs(_table),
        output:
            **{
                fmt: report(
                    f"figures/tables/{_table}.{fmt}",
                    caption=f"../report/{_table}.rst",
                    category="Tables",
                    labels={"table": _table, "format": fmt},
                )
                for fmt in ("csv", "md", "tex")
            },
        params:
            step="render_table",
            cfg={**RENDER, "item": _table},
        log:
            f"logs/render/{_table}.log",
        benchmark:
            f"logs/benchmarks/render/{_table}.tsv"
        conda:
            "../../envs/plot.yaml"
        resources:
            mem_mb=2000,
            runtime=5,
        threads: 1
        script:
            STEP_SCRIPT

    ALL_OUTPUTS.extend(f"figures/tables/{_table}.{fmt}" for fmt in ("csv", "md", "tex"))


for _figure in FIGURES:

    rule:
        name:
            f"figure_{_figure}"
        input:
            **render_inputs(_figure),
        output:
            **{
                fmt: report(
                    f"figures/{_figure}.{fmt}",
                    caption=f"../report/{_figure}.rst",
                    category="Figures",
                    labels={"figure": _figure, "format": fmt},
                )
                for fmt in ("pdf", "png")
            },
        params:
            step="render_figure",
            cfg={**RENDER, "item": _figure},
        log:
            f"logs/render/{_figure}.log",
        benchmark:
            f"logs/benchmarks/render/{_figure}.tsv"
        conda:
            "../../envs/plot.yaml"
        resources:
            mem_mb=2000,
            runtime=5,
        threads: 1
        script:
            STEP_SCRIPT

    ALL_OUTPUTS.extend(f"figures/{_figure}.{fmt}" for fmt in ("pdf", "png"))
