"""Hyper-parameters of the families trained here: names, defaults, and the values a choice takes.

Torch-free, so that the registry check (:mod:`atomprobe.models.registry`, run by
:mod:`atomprobe.preflight` while Snakemake parses the workflow) knows them without importing a
family. The families build their models from these same declarations
(:meth:`atomprobe.models.base.HyperparameterFamily.resolve_hparams`,
:meth:`MACEHyperparameters.from_mapping`), so what the check accepts is what a build accepts.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from atomprobe.errors import ConfigError

#: How per-atom outputs become one value per structure (``readout`` of SchNet, ViSNet and PaiNN;
#: MACE's ``pooling`` also takes "auto").
READOUTS = ("sum", "mean")


@dataclass(frozen=True)
class MACEHyperparameters:
    """Architecture of a MACE trained here (mace-torch ``MACE`` arguments).

    r_max: cutoff radius (Å); num_bessel, num_polynomial_cutoff: radial basis; max_ell: largest
    L of the edge spherical harmonics; hidden_irreps: node features of the inner layers (e3nn
    string; the last layer keeps its scalars only); num_interactions: message-passing layers;
    correlation: body order - 1 of the product basis; mlp_irreps: hidden width of the last
    (gated) readout; radial_mlp: hidden sizes of the radial network; pooling: how per-atom
    outputs become a structure's prediction, "sum" (extensive), "mean" (intensive) or "auto"
    (sum when the target has atom references, i.e. energies; mean otherwise, e.g. the gap).
    """

    r_max: float = 5.0
    num_bessel: int = 8
    num_polynomial_cutoff: int = 5
    max_ell: int = 2
    hidden_irreps: str = "16x0e+16x1o"
    num_interactions: int = 2
    correlation: int = 2
    mlp_irreps: str = "16x0e"
    radial_mlp: tuple[int, ...] = (16, 16)
    pooling: str = "auto"

    @classmethod
    def from_mapping(cls, hparams: Mapping[str, Any]) -> MACEHyperparameters:
        """Validated hyper-parameters; ConfigError naming an unknown key or bad value."""
        merged = check_hparams("mace", hparams)
        hp = cls(**{**merged, "radial_mlp": tuple(merged["radial_mlp"])})
        if hp.num_interactions < 1:
            raise ConfigError(f"mace hparams num_interactions: {hp.num_interactions} must be >= 1")
        return hp


#: family -> hyper-parameter -> default: every key a registry entry's ``hparams`` may give
DEFAULTS: dict[str, dict[str, Any]] = {
    "schnet": {
        "hidden_channels": 64,
        "num_filters": 64,
        "num_interactions": 3,
        "num_gaussians": 50,
        "cutoff": 5.0,
        "readout": "mean",
    },
    "dimenetpp": {
        "hidden_channels": 64,
        "out_emb_channels": 64,
        "int_emb_size": 32,
        "basis_emb_size": 8,
        "num_blocks": 3,
        "num_spherical": 7,
        "num_radial": 6,
        "cutoff": 5.0,
        "envelope_exponent": 5,
        "num_before_skip": 1,
        "num_after_skip": 2,
        "num_output_layers": 3,
    },
    "visnet": {
        "lmax": 1,
        "num_heads": 4,
        "num_layers": 3,
        "hidden_channels": 64,
        "num_rbf": 32,
        "cutoff": 5.0,
        "readout": "mean",
    },
    "painn": {
        "channels": 64,
        "radial_features": 20,
        "layers": 3,
        "cutoff": 5.0,
        "readout": "mean",
    },
    "mace": {f.name: f.default for f in fields(MACEHyperparameters)},
}

#: family -> hyper-parameter -> the values it may take (the others take any value of their type)
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "schnet": {"readout": READOUTS},
    "visnet": {"readout": READOUTS},
    "painn": {"readout": READOUTS},
    "mace": {"pooling": ("auto", *READOUTS)},
}


def _fits(default: Any, value: Any) -> bool:
    """Whether ``value`` has the type of ``default`` (an int where an int is due, a number
    where a float is, a list of such items where a tuple is)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, tuple):
        return isinstance(value, list | tuple) and all(_fits(default[0], v) for v in value)
    return isinstance(value, type(default))


def check_hparams(
    family: str, hparams: Mapping[str, Any], where: str | None = None
) -> dict[str, Any]:
    """A trainable family's defaults updated with ``hparams``, each key checked.

    Parameters
    ----------
    family : str
        A family of :data:`DEFAULTS`.
    hparams : mapping
        A registry entry's ``hparams``.
    where : str or None, default=None
        What the message names (default ``"<family> hparams"``).

    Returns
    -------
    dict
        Every hyper-parameter of the family, ``hparams`` over the defaults.

    Raises
    ------
    ConfigError
        One line naming an unknown key (and the closest known one), a value of the wrong type
        (an integer given as a float) or a choice the family does not offer.
    """
    where = where or f"{family} hparams"
    defaults = DEFAULTS[family]
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        close = difflib.get_close_matches(unknown[0], defaults, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}: {unknown} not accepted by family {family!r}; {hint}"
            f"it accepts {sorted(defaults)}"
        )
    for key, value in hparams.items():
        choices = CHOICES.get(family, {}).get(key)
        if choices is not None and value not in choices:
            raise ConfigError(
                f"{where}.{key}: family {family!r} does not support {value!r}; "
                f"use one of {list(choices)}"
            )
        if not _fits(defaults[key], value):
            kind = type(defaults[key]).__name__.replace("tuple", "list")
            raise ConfigError(f"{where}.{key}: {value!r} is not of type {kind}; fix it")
    return {**defaults, **hparams}
