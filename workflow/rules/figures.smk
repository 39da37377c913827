"""Tables and figures of the papers, rendered from cached parquet results only.

One rule per table (CSV + Markdown + LaTeX under figures/tables/) and per figure (PDF + PNG under
figures/). Each reads only the inputs it needs (render_inputs() in common.smk, from
atomprobe.render.steps.NEEDS): editing a plot re-renders that plot and never recomputes a model.
An analysis that this config does not run is left out of the inputs, and its panel or table says
"not run".
"""

RENDER = config["render"]


for _table in TABLES:

    rule:
        name:
            f"table_{_table}"
        input:
            **render_inputs(_table),
        output:
            **{
                fmt: report(
                    table_path(_table, fmt),
                    caption=f"../report/{_table}.rst",
                    category="Tables",
                    labels={"table": _table, "format": fmt},
                )
                for fmt in TABLE_FORMATS
            },
        log:
            **job_logs(f"render/{_table}"),
        conda:
            "../../envs/plot.yaml"
        resources:
            mem_mb=2000,
            runtime=5,
        params:
            step="atomprobe.render.steps:render_table",
            cfg={**RENDER, "item": _table},
        script:
            STEP_SCRIPT


for _figure in FIGURES:

    rule:
        name:
            f"figure_{_figure}"
        input:
            **render_inputs(_figure),
        output:
            **{
                fmt: report(
                    figure_path(_figure, fmt),
                    caption=f"../report/{_figure}.rst",
                    category="Figures",
                    labels={"figure": _figure, "format": fmt},
                )
                for fmt in FIGURE_FORMATS
            },
        log:
            **job_logs(f"render/{_figure}"),
        conda:
            "../../envs/plot.yaml"
        resources:
            mem_mb=2000,
            runtime=5,
        params:
            step="atomprobe.render.steps:render_figure",
            cfg={**RENDER, "item": _figure},
        script:
            STEP_SCRIPT
