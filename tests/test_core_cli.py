"""Rules name their step explicitly; the runner resolves it; errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from atomprobe.cli import main
from atomprobe.errors import AtomprobeError
from atomprobe.runner import USAGE_COLUMNS, as_path_list, resolve_step, run_step, write_usage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from ladder_cost import ladder_costs, rung_table  # noqa: E402
from occupancy import job_events, occupancy  # noqa: E402
from stage_cpu import job_records, stage_table  # noqa: E402


def test_every_rule_names_a_step_that_resolves(rules):
    """One hop from rule to code: ``params.step`` is ``atomprobe.<module>:<function>``."""
    acting = [r for r in rules if r["has_action"]]
    assert acting
    for rule in acting:
        step = rule["step"]
        assert step and step.startswith("atomprobe.") and ":" in step, rule["name"]
        assert callable(resolve_step(step)), rule["name"]


def test_prefix_is_optional():
    assert resolve_step("cpd.steps:cpd") is resolve_step("atomprobe.cpd.steps:cpd")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("cpd", "is not of the form"),
        ("atomprobe.no_such_module:cpd", "no module"),
        ("atomprobe.cpd.steps:no_such_step", "has no function"),
    ],
)
def test_bad_step_reference_is_named(reference, message):
    with pytest.raises(AtomprobeError, match=message):
        resolve_step(reference)


def test_unknown_step_is_one_line_error(capsys):
    assert main(["cpd.steps:no_such_step"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("atomprobe cpd.steps:no_such_step: error: step 'cpd.steps:no_such_step'")
    assert "\n" not in err


def test_bad_params_json(capsys):
    assert main(["cpd.steps:cpd", "--params", "{not json"]) == 2
    assert "--params is not valid JSON" in capsys.readouterr().err


def test_one_path_or_many():
    assert as_path_list("a") == ["a"]
    assert as_path_list(["a", "b"]) == ["a", "b"]
    assert as_path_list(None) == []


def test_every_acting_rule_logs_and_records_its_usage(rules):
    """Each job writes logs/<stem>.log and its usage record logs/benchmarks/<stem>.tsv (the step
    runner's, not Snakemake's polling ``benchmark:``)."""
    for rule in (r for r in rules if r["has_action"]):
        logs = rule["logs"]
        assert set(logs) == {"log", "usage"}, rule["name"]
        stem = logs["log"].removeprefix("logs/").removesuffix(".log")
        assert logs["usage"] == f"logs/benchmarks/{stem}.tsv", rule["name"]
        assert not rule["benchmark"], rule["name"]


def _burn_cpu(seconds: float) -> None:
    """Keep this process on the CPU for ``seconds`` of its own CPU time."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        sum(i * i for i in range(10_000))


def test_usage_record_counts_planted_cpu_and_memory(tmp_path):
    """CPU and peak memory planted in this process appear in its record; the CPU agrees with
    ``time.process_time()`` plus the finished children's CPU from ``os.times()``."""
    _burn_cpu(0.3)
    block = np.ones(300 * 2**20 // 8)  # 300 MiB, every page touched
    path = tmp_path / "logs" / "benchmarks" / "stage" / "job.tsv"
    children = os.times().children_user + os.times().children_system
    before = time.process_time() + children
    write_usage(str(path), wall_s=3725.5)
    after = time.process_time() + children
    del block
    record = job_records(tmp_path / "logs" / "benchmarks").iloc[0]
    assert record["stage"] == "stage" and record["job"] == "stage/job"
    assert record["wall_s"] == pytest.approx(3725.5)
    assert before - 0.05 <= record["cpu_s"] <= after + 0.05
    assert record["cpu_s"] >= 0.3
    assert record["max_rss_mb"] >= 300
    header, values = path.read_text().splitlines()
    assert tuple(header.split("\t")) == USAGE_COLUMNS
    assert values.split("\t")[1] == "1:02:05"


def test_stage_table_sums_planted_records_and_the_script_refuses_an_empty_folder(tmp_path):
    """Per stage: jobs, CPU and wall sums, the largest job; no records is a one-line error."""
    root = tmp_path / "logs" / "benchmarks"
    for job, wall, cpu, rss in [
        ("models/a", 10, 8, 500),
        ("models/b", 20, 30, 100),
        ("cpd/c", 5, 4, 900),
    ]:
        path = root / f"{job}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\tcpu_time\tmax_rss\n{wall}\t{cpu}\t{rss}\n")
    table = stage_table(job_records(root)).splitlines()
    assert "| models | 2 | 38 | 30 | models/b 30 s | models/a 0.5 GiB |" in table
    assert table[-1] == "| all | 3 | 42 | 35 | | |"
    script = REPO / "benchmarks" / "stage_cpu.py"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "empty")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("no benchmark records (*.tsv); run it from a run's working directory")
    )


def test_failed_step_still_records_its_usage(tmp_path):
    """A job that fails still leaves its usage record (its log stays too)."""
    usage = tmp_path / "usage.tsv"
    with pytest.raises(AtomprobeError):
        run_step("cpd.steps:no_such_step", {}, {}, {}, usage_file=str(usage))
    assert usage.read_text().startswith("s\th:m:s\tmax_rss\tcpu_time")


@pytest.mark.parametrize(
    ("nvidia", "rocm", "visible", "expected"),
    [
        (["0000:01:00.0"], False, None, True),
        ([], False, None, False),
        (None, True, None, True),
        (None, False, None, False),
        (["0000:01:00.0"], False, "", False),
        (["0000:01:00.0"], True, "-1", False),
        (["0000:01:00.0"], False, "1", True),
    ],
    ids=["nvidia", "driver-no-gpu", "rocm", "none", "hidden-empty", "hidden-minus-one", "pinned"],
)
def test_gpu_visible_reads_the_drivers_and_cuda_visible_devices(
    tmp_path, monkeypatch, nvidia, rocm, visible, expected
):
    from atomprobe import hardware

    gpus = tmp_path / "nvidia" / "gpus"
    if nvidia is not None:
        gpus.mkdir(parents=True)
        for bus_id in nvidia:
            (gpus / bus_id).mkdir()
    kfd = tmp_path / "kfd"
    if rocm:
        kfd.touch()
    monkeypatch.setattr(hardware, "NVIDIA_GPUS", gpus)
    monkeypatch.setattr(hardware, "ROCM_DEVICE", kfd)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert hardware.gpu_visible() is expected


def test_occupancy_counts_the_time_each_number_of_jobs_ran():
    """A planted Snakemake log: job A from 0 to 120 s, job B from 60 s to 300 s."""
    log = """Building DAG of jobs...
[Sun Dec  6 16:09:00 2026]
localrule qm9:
    output: results/data/qm9.parquet
[Sun Dec  6 16:10:00 2026]
rule extract:
    output: results/features/x.parquet
[Sun Dec  6 16:11:00 2026]
Finished jobid: 1 (Rule: qm9)
1 of 2 steps (50%) done
[Sun Dec  6 16:14:00 2026]
Finished jobid: 2 (Rule: extract)
"""
    seconds = occupancy(job_events(log.splitlines()))
    assert seconds == {1: 60 + 180, 2: 60}


def test_ladder_cost_counts_resumed_training_from_its_curve(tmp_path):
    """A finished model whose usage record covers only its last piece, a training killed at
    epoch 2 of 4 (resume state only) and an untrained twin: each rung's passes, core-hours of
    training (the curve's seconds, across resumes), other jobs' CPU and peak memory."""

    def usage(stem, cpu, rss):
        path = tmp_path / "logs" / "benchmarks" / f"{stem}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"s\th:m:s\tmax_rss\tcpu_time\tcpu_user\tcpu_system\n1\t0:00:01\t{rss}\t{cpu}\t{cpu}\t0\n"
        )

    done = tmp_path / "results" / "models" / "a_r1"
    done.mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2, 3], "seconds": [1000.0, 2000.0, 3600.0]}).to_parquet(
        done / "learning_curve.parquet"
    )
    (done / "metrics.json").write_text(json.dumps({"test_mae": 0.1}))
    usage("models/train_a_r1", 900, 1024)  # the last piece only: not the training's cost
    usage("features/a_r1_qm9", 30, 2048)
    usage("cpd/a_r1/qm9", 6, 512)
    killed = tmp_path / "results" / "models" / "b_r1" / "resume"
    killed.mkdir(parents=True)
    torch.save(
        {"curve": [{"epoch": 1, "seconds": 50.0}, {"epoch": 2, "seconds": 90.0}]},
        killed / "state.pt",
    )
    usage("models/init_a_init", 4, 300)
    registry = {
        "a_r1": {"source": "train", "rung": 1, "training": {"n_train": 100, "epochs": 3}},
        "b_r1": {"source": "train", "rung": 1, "training": {"n_train": 50, "epochs": 4}},
        "a_init": {"source": "random_init", "rung": 1, "of": "a_r1", "training": {"n_train": 100}},
        "z": {"source": "builtin"},
    }
    costs = ladder_costs(tmp_path, registry, ["qm9"]).set_index("model")
    assert list(costs.index) == ["a_r1", "b_r1", "a_init"]  # pretrained: no rung's cost
    assert costs.loc["a_r1", "train_s"] == 3600 and costs.loc["a_r1", "status"] == "finished"
    assert costs.loc["a_r1", "other_cpu_s"] == 36 and costs.loc["a_r1", "peak_mb"] == 2048
    assert costs.loc["b_r1", "status"] == "epoch 2 of 4" and costs.loc["b_r1", "train_s"] == 90
    assert costs.loc["a_init", "molecule_passes"] == 0 and costs.loc["a_init", "other_cpu_s"] == 4
    table = rung_table(costs.reset_index())
    assert "| 1 | 1 of 3 | 400 | 1.02 | 0.01 | 2.0 |" in table
