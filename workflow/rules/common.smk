"""Shared helpers for every rules file. Rules files append their final outputs to ALL_OUTPUTS."""

ALL_OUTPUTS: list[str] = []
STEP_SCRIPT = "../scripts/step.py"
