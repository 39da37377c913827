"""The reproduction report: every claim of the papers beside our number and a verdict.

`snakemake --report figures/report.html` then collects it with every table and figure
(each marked with report() and a caption under workflow/report/); its first page
(workflow/report/workflow.rst) shows results/reproduction_summary.rst: the verdicts.
"""


rule reproduction:
    input:
        **render_inputs("reproduction"),
    output:
        **LADDER_OUTPUTS,
        md=report(
            report_path("reproduction.md"),
            caption="../report/reproduction.rst",
            category="Reproduction",
            labels={"report": "reproduction", "format": "md"},
        ),
        csv=report(
            report_path("reproduction.csv"),
            caption="../report/reproduction.rst",
            category="Reproduction",
            labels={"report": "reproduction", "format": "csv"},
        ),
        landing=report(
            report_path("reproduction_summary.rst"),
            caption="../report/reproduction_summary.rst",
            category="Reproduction",
            labels={"report": "verdicts (landing page)", "format": "rst"},
        ),
    log:
        **job_logs("render/reproduction"),
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        step="atomprobe.render.steps:reproduction_report",
        cfg={
            **config["render"],
            "run": {
                "configfiles": [str(f) for f in workflow.configfiles],
                "models": config["models"],
            },
        },
    script:
        STEP_SCRIPT
