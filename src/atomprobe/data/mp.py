"""A reproducible Materials Project subset as a structure table.

Sources:

* ``offline`` (default): the 1,112 MP-20 crystals shipped in
  ``resources/mp20_sample/`` (provenance, licence and sha256 in its README), or a folder with
  the same three files named by ``data.mp.offline_dir``.
* ``api``: the official ``mp-api`` client; the key is read from the environment variable
  ``MP_API_KEY`` and is never logged or written. Matching material ids are listed first, a
  seeded sample of ``size`` of them is drawn, and only those documents are fetched.

Both apply the same selection criteria (``max_sites``, ``energy_above_hull_max``,
``formation_energy_max``) and the same seeded draw. Density and volume per atom are computed
from the structures with pymatgen.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import requests
from pymatgen.core import Structure

from atomprobe.data.progress import progress as progress_bar
from atomprobe.data.structures import hill_formula, ragged_column
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import sha256_file

SOURCES = ("offline", "api")
API_KEY_VARIABLE = "MP_API_KEY"
PERIODIC = True  # crystals (atomprobe.data.datasets)
TARGETS = {
    "band_gap": "eV",
    "formation_energy_per_atom": "eV/atom",
    "density": "g/cm^3",
    "volume_per_atom": "Å^3",
}
# The shipped sample: file name -> sha256 (as in resources/mp20_sample/README.md).
OFFLINE_FILES = {
    "train.csv.gz": "2bfa2639811544e0c8f4b3508e7fedb310e989e434cb87f923aafe891b10702d",
    "val.csv.gz": "388a74595cda881bb88864f9fb0cfdc23d28f514d3e8aede67090eefdcd6bc78",
    "test.csv.gz": "997569c8d58445917be3349a2dabbaa8f6c3e97bfd1b0271d51d54d4193a0886",
}
API_FIELDS = ["material_id", "structure", "band_gap", "formation_energy_per_atom"]
HOW_TO_GET_DATA = (
    f"set {API_KEY_VARIABLE} and data.mp.source: api, or point data.mp.offline_dir at a folder "
    f"with {', '.join(OFFLINE_FILES)} (the MP-20 sample shipped with atomprobe)"
)


def shipped_offline_dir() -> Path:
    """The folder of the MP-20 sample shipped inside the package."""
    return Path(str(files("atomprobe.data").joinpath("resources/mp20_sample")))


def read_offline(directory: str | Path | None = None) -> pd.DataFrame:
    """The offline sample, checksums verified: columns ``material_id``, ``band_gap``,
    ``formation_energy_per_atom``, ``e_above_hull``, ``cif``; one row per distinct material.
    """
    folder = Path(directory) if directory is not None else shipped_offline_dir()
    parts = []
    for name, expected in OFFLINE_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: the offline MP sample is missing; {HOW_TO_GET_DATA}")
        if sha256_file(path) != expected:
            raise DataError(
                f"{path}: sha256 differs from the published {expected[:12]}…; the copy is "
                "corrupt or edited — restore it from resources/mp20_sample"
            )
        parts.append(pd.read_csv(path))
    frame = pd.concat(parts, ignore_index=True)
    columns = ["material_id", "band_gap", "formation_energy_per_atom", "e_above_hull", "cif"]
    return frame[columns].drop_duplicates("material_id").reset_index(drop=True)


def seeded_order(ids: Iterable[str], seed: int) -> list[str]:
    """The distinct ``ids``, sorted, then shuffled with ``seed`` (same ids and seed, same order)."""
    pool = sorted(set(ids))
    return [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]


def draw_subset(ids: Iterable[str], size: int, seed: int) -> list[str]:
    """The first ``size`` ids of :func:`seeded_order` (all if fewer), sorted."""
    return sorted(seeded_order(ids, seed)[:size])


def _structure_from_cif(cif: str, material_id: str) -> Structure:
    """Parse one CIF with pymatgen's defaults (which snap coordinates within 1e-4 of ideal
    values such as 1/3 exactly onto them). That notice and pymatgen's remark that noble gases
    have no Pauling electronegativity are silenced; any other warning is kept."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*rounded to ideal values")
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        try:
            return Structure.from_str(cif, fmt="cif")
        except (ValueError, KeyError, IndexError) as exc:
            raise DataError(f"{material_id}: CIF cannot be parsed ({exc})") from exc


def structures_to_frame(
    material_ids: Sequence[str],
    structures: Sequence[Structure],
    band_gap: Iterable[float],
    formation_energy_per_atom: Iterable[float],
) -> pd.DataFrame:
    """The MP structure table (docs/formats.md), in the order given.

    Columns: id, formula, numbers, positions (Å), cell (Å, rows), pbc, species, frac_coords,
    lattice (3 × 3 matrix, Å; equal to ``cell``), band_gap, formation_energy_per_atom,
    density, volume_per_atom. ``Structure(lattice, species, frac_coords)`` rebuilds each row.
    """
    for material_id, structure in zip(material_ids, structures, strict=True):
        if not structure.is_ordered:
            raise DataError(f"{material_id}: structure has partial occupancies; not supported")
    numbers = [np.array(s.atomic_numbers, dtype=np.int8) for s in structures]
    lattices = [s.lattice.matrix for s in structures]
    matrix_type = pa.float64()
    frame = pd.DataFrame(
        {
            "id": list(material_ids),
            "formula": [hill_formula(z) for z in numbers],
        }
    )
    frame["numbers"] = ragged_column(numbers, pa.int8())
    frame["positions"] = ragged_column([s.cart_coords for s in structures], matrix_type)
    frame["cell"] = ragged_column(lattices, matrix_type)
    frame["pbc"] = np.ones(len(frame), dtype=bool)
    frame["species"] = ragged_column(
        [np.array([site.specie.symbol for site in s], dtype=object) for s in structures],
        pa.string(),
    )
    frame["frac_coords"] = ragged_column([s.frac_coords for s in structures], matrix_type)
    frame["lattice"] = ragged_column(lattices, matrix_type)
    frame["band_gap"] = np.asarray(list(band_gap), dtype=np.float64)
    frame["formation_energy_per_atom"] = np.asarray(list(formation_energy_per_atom), np.float64)
    frame["density"] = np.array([s.density for s in structures], dtype=np.float64)
    frame["volume_per_atom"] = np.array([s.volume / len(s) for s in structures], np.float64)
    return frame


def load_offline(
    directory: str | Path | None,
    size: int,
    seed: int,
    criteria: dict[str, float],
    progress: bool = True,
) -> pd.DataFrame:
    """Structure table of a seeded subset of the offline sample that meets ``criteria``."""
    raw = read_offline(directory)
    selected = raw["e_above_hull"] <= criteria["energy_above_hull_max"]
    selected &= raw["formation_energy_per_atom"] <= criteria["formation_energy_max"]
    raw = raw[selected].set_index("material_id")
    # Walk the seeded order and parse only until ``size`` structures meet max_sites; this is
    # draw_subset() over the eligible ids without parsing every CIF of a large sample.
    structures: dict[str, Structure] = {}
    with progress_bar(
        total=min(size, len(raw)), desc="MP CIF", unit="cif", enabled=progress
    ) as bar:
        for material_id in seeded_order(raw.index, seed):
            structure = _structure_from_cif(raw.at[material_id, "cif"], material_id)
            if len(structure) <= criteria["max_sites"]:
                structures[material_id] = structure
                bar.update()
                if len(structures) == size:
                    break
    chosen = sorted(structures)
    rows = raw.loc[chosen]
    return structures_to_frame(
        chosen,
        [structures[m] for m in chosen],
        rows["band_gap"],
        rows["formation_energy_per_atom"],
    )


def load_api(
    size: int,
    seed: int,
    criteria: dict[str, float],
    endpoint: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Structure table of a seeded subset of the Materials Project fetched with ``mp-api``."""
    api_key = os.environ.get(API_KEY_VARIABLE, "")
    if not api_key:
        raise ConfigError(
            f"data.mp.source: api needs the environment variable "
            f"{API_KEY_VARIABLE}; {HOW_TO_GET_DATA}"
        )
    from mp_api.client import MPRester  # imported here: slow, and only this source needs it
    from mp_api.client.core.client import MPRestError

    query = {
        "deprecated": False,
        "num_sites": (1, int(criteria["max_sites"])),
        "energy_above_hull": (0.0, float(criteria["energy_above_hull_max"])),
        "formation_energy": (None, float(criteria["formation_energy_max"])),  # None: no minimum
    }
    try:
        with MPRester(
            api_key=api_key,
            endpoint=endpoint,
            use_document_model=False,
            mute_progress_bars=not progress,
        ) as rester:
            summary = rester.materials.summary
            listed = summary.search(**query, fields=["material_id"])
            chosen = draw_subset([str(doc["material_id"]) for doc in listed], size, seed)
            docs = summary.search(material_ids=chosen, fields=API_FIELDS) if chosen else []
            db_version = rester.db_version
    except (MPRestError, requests.RequestException) as exc:
        text = str(exc).replace(api_key, "<MP_API_KEY>").strip() or type(exc).__name__
        message = text.splitlines()[0]
        raise DataError(f"Materials Project API request failed: {message}") from exc
    by_id = {str(doc["material_id"]): doc for doc in docs}
    missing = [m for m in chosen if m not in by_id]
    if missing:
        raise DataError(
            f"Materials Project API did not return {len(missing)} listed materials, "
            f"e.g. {missing[:3]}; run again"
        )
    structures = [Structure.from_dict(by_id[m]["structure"]) for m in chosen]
    frame = structures_to_frame(
        chosen,
        structures,
        [by_id[m]["band_gap"] for m in chosen],
        [by_id[m]["formation_energy_per_atom"] for m in chosen],
    )
    frame.attrs["mp_database_version"] = db_version
    return frame


def load_mp(params: dict[str, Any], progress: bool = True) -> pd.DataFrame:
    """Structure table for the config section ``data.mp`` (see config/README.md)."""
    source = params["source"]
    if source not in SOURCES:
        raise ConfigError(f"data.mp.source: {source!r} is unknown; use one of {SOURCES}")
    criteria = params["criteria"]
    if source == "offline":
        return load_offline(
            params.get("offline_dir"), params["size"], params["seed"], criteria, progress
        )
    return load_api(params["size"], params["seed"], criteria, params.get("endpoint"), progress)
