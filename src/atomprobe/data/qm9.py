"""QM9 (Ramakrishnan et al., Sci. Data 1, 140022, 2014) as a structure table.

Two sources give the same rows and values for the molecules they share:

* ``qm9pack``: the PyPI package ``qm9pack`` 1.0.3, which ships the 130,831 characterised
  molecules (QM9 without the 3,054 of ``uncharacterized.txt``) as CSV in the archive's units.
  Its CSV files are read directly; the package is not imported (it imports ``pkg_resources``).
* ``archive``: the published ``dsgdb9nsd.xyz.tar.bz2`` (133,885 XYZ files), parsed from the
  original extended-XYZ layout, including its Mathematica exponent notation ``1.2*^-6``.

Energies are converted from hartree to eV with CODATA 2022 (``scipy.constants``); the other
targets keep QM9's units. ``smiles`` is the GDB-17 SMILES (first field of the SMILES line,
the one qm9pack ships).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tarfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from ase.data import atomic_numbers
from scipy.constants import physical_constants

from atomprobe.data.progress import progress as progress_bar
from atomprobe.data.structures import hill_formula, ragged_column
from atomprobe.errors import ConfigError, DataError

HARTREE_TO_EV: float = physical_constants["Hartree energy in eV"][0]  # CODATA 2022: 27.211386245981
N_MOLECULES = 133_885  # gdb indices 1 … 133,885
SOURCES = ("qm9pack", "archive")

# The 15 numbers after "gdb <index>" on line 2 of every XYZ file, in order.
XYZ_PROPERTIES = (
    "rot_a",
    "rot_b",
    "rot_c",
    "mu",
    "alpha",
    "homo",
    "lumo",
    "gap",
    "r2",
    "zpve",
    "u0",
    "u",
    "h",
    "g",
    "cv",
)
PERIODIC = False  # molecules (atomprobe.data.datasets)
# Output targets -> unit after conversion. Hartree targets are multiplied by HARTREE_TO_EV.
TARGETS = {
    "homo": "eV",
    "lumo": "eV",
    "gap": "eV",
    "mu": "D",
    "alpha": "bohr^3",
    "r2": "bohr^2",
    "zpve": "eV",
    "u0": "eV",
    "u": "eV",
    "h": "eV",
    "g": "eV",
    "cv": "cal/(mol K)",
}
HARTREE_TARGETS = ("homo", "lumo", "gap", "zpve", "u0", "u", "h", "g")
# targets that grow with the number of atoms: training fits per-element references first
EXTENSIVE_TARGETS = ("zpve", "u0", "u", "h", "g", "cv")
# qm9pack CSV column -> target (values in the archive's units)
QM9PACK_TARGETS = {
    "Dipole_debye": "mu",
    "Polarizability_bohr3": "alpha",
    "HOMO_au": "homo",
    "LUMO_au": "lumo",
    "HOMO_LUMO_gap_au": "gap",
    "R2_bohr2": "r2",
    "ZPVE_au": "zpve",
    "InternalEnergy_0K_au": "u0",
    "InternalEnergy_298K_au": "u",
    "Enthalphy_298K_au": "h",
    "GibbsFreeEnergy_298K_au": "g",
    "Heatcapacity_Cv_cal_mol_K": "cv",
}
QM9PACK_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
QM9PACK_VERSION = "1.0.3"


@dataclass(frozen=True)
class Molecule:
    """One QM9 molecule as read from a source, properties still in the archive's units."""

    index: int  # gdb index, 1 … 133,885
    numbers: np.ndarray  # (n_atoms,) int8 atomic numbers
    positions: np.ndarray  # (n_atoms, 3) float64, Å
    properties: dict[str, float]  # TARGETS keys; energies in hartree
    smiles: str  # GDB-17 SMILES


def uncharacterized_indices() -> frozenset[int]:
    """The 3,054 gdb indices that QM9 flags as failing its geometry consistency check.

    Shipped in ``resources/qm9/uncharacterized_indices.txt`` (provenance in the README there).
    """
    text = files("atomprobe.data").joinpath("resources/qm9/uncharacterized_indices.txt")
    lines = text.read_text().splitlines()
    return frozenset(int(line) for line in lines if line and not line.startswith("#"))


def _float(token: str) -> float:
    """Parse a number of the QM9 archive, which writes exponents as ``1.2*^-6``."""
    return float(token.replace("*^", "e"))


def parse_xyz(text: str, name: str = "<xyz>") -> Molecule:
    """Parse one file of the QM9 archive (``dsgdb9nsd_NNNNNN.xyz``).

    Layout: atom count; ``gdb <index>`` and the 15 properties of :data:`XYZ_PROPERTIES`;
    one line per atom (symbol, x, y, z in Å, Mulliken charge); harmonic frequencies;
    GDB-17 and B3LYP SMILES; Corina and B3LYP InChI.
    """
    lines = text.splitlines()
    try:
        n_atoms = int(lines[0])
        header = lines[1].split()
        if header[0] != "gdb" or len(header) != 2 + len(XYZ_PROPERTIES):
            raise ValueError(f"line 2 has {len(header)} fields, expected 'gdb <index>' + 15")
        index = int(header[1])
        values = dict(zip(XYZ_PROPERTIES, map(_float, header[2:]), strict=True))
        atom_fields = [line.split() for line in lines[2 : 2 + n_atoms]]
        numbers = np.array([atomic_numbers[f[0]] for f in atom_fields], dtype=np.int8)
        positions = np.array([[_float(v) for v in f[1:4]] for f in atom_fields], dtype=np.float64)
        smiles = lines[3 + n_atoms].split()[0]
    except (IndexError, KeyError, ValueError) as exc:
        raise DataError(f"{name}: not a QM9 XYZ file ({exc}); the archive may be corrupt") from exc
    if positions.shape != (n_atoms, 3):
        raise DataError(f"{name}: {n_atoms} atoms announced, {len(positions)} read")
    properties = {key: values[key] for key in TARGETS}
    return Molecule(index, numbers, positions, properties, smiles)


def read_archive(
    path: str | Path, indices: Collection[int] | None = None, progress: bool = True
) -> Iterator[Molecule]:
    """Stream the molecules of ``dsgdb9nsd.xyz.tar.bz2`` (only ``indices`` if given)."""
    wanted = None if indices is None else set(indices)
    try:
        with tarfile.open(path, mode="r|bz2") as archive:
            bar = progress_bar(
                archive, total=N_MOLECULES, desc="QM9 archive", unit="mol", enabled=progress
            )
            for member in bar:
                if not member.isfile() or not member.name.endswith(".xyz"):
                    continue
                index = int(Path(member.name).stem.rsplit("_", 1)[-1])
                if wanted is not None and index not in wanted:
                    continue
                handle = archive.extractfile(member)
                assert handle is not None  # a regular file always has content
                yield parse_xyz(handle.read().decode(), name=f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(
            f"{path}: not a readable tar.bz2 archive ({exc}); delete it and download it again"
        ) from exc


def qm9pack_dir() -> Path:
    """The ``data`` folder of the installed qm9pack (found without importing the package)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "data.qm9.source: qm9pack is not installed; pip install qm9pack==1.0.3 or set "
            "data.qm9.source: archive"
        )
    version = importlib.metadata.version("qm9pack")
    if version != QM9PACK_VERSION:
        raise ConfigError(
            f"qm9pack {version} is installed, atomprobe reads {QM9PACK_VERSION}; "
            f"pip install qm9pack=={QM9PACK_VERSION}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def qm9pack_files() -> list[Path]:
    """The CSV files of qm9pack that hold the molecules (for provenance checksums)."""
    return [qm9pack_dir() / name for name in QM9PACK_FILES]


_LIST_DECORATION = str.maketrans("", "", "[]' ")


def _list_tokens(text: str) -> list[str]:
    """The items of qm9pack's list cells, e.g. ``"['C','H']"`` or ``"[[0.,1.,2.1997E-6]]"``."""
    return text.translate(_LIST_DECORATION).split(",")


def read_qm9pack(
    indices: Collection[int] | None = None, progress: bool = True
) -> Iterator[Molecule]:
    """Yield the molecules shipped by qm9pack (only ``indices`` if given), in index order."""
    columns = ["Index", "SMILES", "Elements", "XYZ_Ang", *QM9PACK_TARGETS]
    wanted = None if indices is None else set(indices)
    total = N_MOLECULES - len(uncharacterized_indices()) if wanted is None else None
    with progress_bar(total=total, desc="qm9pack", unit="mol", enabled=progress) as bar:
        for path in qm9pack_files():
            # every cell as text, parsed below with float() exactly like the archive's text
            options = pa_csv.ConvertOptions(
                include_columns=columns, column_types=dict.fromkeys(columns, pa.string())
            )
            frame = pa_csv.read_csv(path, convert_options=options).to_pandas()
            if wanted is not None:
                frame = frame[frame["Index"].astype(int).isin(wanted)]
            targets = frame[list(QM9PACK_TARGETS)].rename(columns=QM9PACK_TARGETS).map(float)
            for index, smiles, elements, xyz, props in zip(
                frame["Index"],
                frame["SMILES"],
                frame["Elements"],
                frame["XYZ_Ang"],
                targets.to_dict("records"),
                strict=True,
            ):
                symbols = _list_tokens(elements)
                numbers = np.array([atomic_numbers[s] for s in symbols], dtype=np.int8)
                coordinates = [float(token) for token in _list_tokens(xyz)]
                positions = np.array(coordinates, dtype=np.float64).reshape(len(numbers), 3)
                bar.update()
                yield Molecule(int(index), numbers, positions, props, smiles)


def qm9pack_indices() -> np.ndarray:
    """Sorted gdb indices of the molecules in qm9pack, shape (130831,)."""
    parts = [pd.read_csv(path, usecols=["Index"])["Index"] for path in qm9pack_files()]
    return np.sort(pd.concat(parts).to_numpy())


def molecules_to_frame(molecules: Iterator[Molecule]) -> pd.DataFrame:
    """The structure table (docs/formats.md) of some molecules, sorted by gdb index.

    Columns: id (``qm9:<index>``), formula, smiles, numbers, positions, cell (null), pbc
    (False), then the targets of :data:`TARGETS` with hartree converted to eV.
    """
    mols = sorted(molecules, key=lambda m: m.index)
    if not mols:
        raise DataError("no QM9 molecules were read; check data.qm9.source")
    n = len(mols)
    frame = pd.DataFrame(
        {
            "id": [f"qm9:{m.index}" for m in mols],
            "formula": [hill_formula(m.numbers) for m in mols],
            "smiles": [m.smiles for m in mols],
        }
    )
    frame["numbers"] = ragged_column([m.numbers for m in mols], pa.int8())
    frame["positions"] = ragged_column([m.positions for m in mols], pa.float64())
    frame["cell"] = pd.Series([None] * n, dtype=object)
    frame["pbc"] = np.zeros(n, dtype=bool)
    for target in TARGETS:
        values = np.array([m.properties[target] for m in mols], dtype=np.float64)
        frame[target] = values * HARTREE_TO_EV if target in HARTREE_TARGETS else values
    return frame


def check_exclusion(name: str, source: str, exclude_uncharacterized: bool) -> None:
    """ConfigError unless the source holds what ``exclude_uncharacterized`` asks for: qm9pack
    ships only the characterised molecules, so keeping the others needs the archive."""
    if source == "qm9pack" and not exclude_uncharacterized:
        raise ConfigError(
            f"data.{name}.exclude_uncharacterized: false needs data.{name}.source: archive "
            "(qm9pack ships only the 130,831 characterised molecules)"
        )


def load_molecules(
    source: str,
    archive: str | Path | None = None,
    exclude_uncharacterized: bool = True,
    indices: Collection[int] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """QM9 as a structure table from ``source`` (``qm9pack`` or ``archive``).

    Args:
        source: where the molecules come from (see the module docstring).
        archive: path of ``dsgdb9nsd.xyz.tar.bz2``; needed for ``source="archive"``.
        exclude_uncharacterized: drop the 3,054 molecules of ``uncharacterized.txt``.
            qm9pack does not contain them, so ``False`` needs the archive.
        indices: read only these gdb indices (tests and quick looks); default all.
        progress: show tqdm progress bars.
    """
    if source not in SOURCES:
        raise ConfigError(f"data.qm9.source: {source!r} is unknown; use one of {SOURCES}")
    excluded = uncharacterized_indices()
    check_exclusion("qm9", source, exclude_uncharacterized)
    if source == "qm9pack":
        molecules = read_qm9pack(indices, progress)
    else:
        if archive is None:
            raise ConfigError(
                "data.qm9.source: archive needs the archive path; set data.qm9.archive"
            )
        molecules = read_archive(archive, indices, progress)
    if exclude_uncharacterized:
        molecules = (m for m in molecules if m.index not in excluded)
    frame = molecules_to_frame(molecules)
    if source == "qm9pack" and indices is None and len(frame) != N_MOLECULES - len(excluded):
        raise DataError(
            f"qm9pack gave {len(frame)} molecules, expected {N_MOLECULES - len(excluded)}; "
            f"reinstall qm9pack=={QM9PACK_VERSION}"
        )
    return frame
