"""Analyses built on the CPD core (paper A) and on feature reconstruction (paper B).

Paper A: compositional control, isomer benchmark, sample efficiency and
layer profiles; each function returns a tidy DataFrame whose columns are documented in the
module's ``*_COLUMNS`` dict.
"""

from atomprobe.analyses.control import CONTROL_TARGETS, compositional_control, control_target
from atomprobe.analyses.isomers import (
    isomer_accuracy,
    isomer_benchmark,
    isomer_pairs,
    pairwise_accuracy,
)
from atomprobe.analyses.layers import layer_profile
from atomprobe.analyses.sample_efficiency import learning_curve, ranking_agreement

__all__ = [
    "CONTROL_TARGETS",
    "compositional_control",
    "control_target",
    "isomer_accuracy",
    "isomer_benchmark",
    "isomer_pairs",
    "layer_profile",
    "learning_curve",
    "pairwise_accuracy",
    "ranking_agreement",
]
