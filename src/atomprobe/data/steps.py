"""The data stage's steps (one per rule of workflow/rules/data.smk): QM9, its archive download,
Materials Project, structures from your own files, and the train/val/test/probe splits.

Each reads only its inputs and writes only its outputs (contract: :mod:`atomprobe.runner`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from atomprobe.data.download import download
from atomprobe.data.files import (
    as_sources,
    frames_to_table,
    read_frames,
)
from atomprobe.data.mp import (
    OFFLINE_FILES,
    load_mp,
    shipped_offline_dir,
)
from atomprobe.data.mp import TARGETS as MP_TARGETS
from atomprobe.data.qm9 import (
    EXTENSIVE_TARGETS,
    HARTREE_TO_EV,
    QM9PACK_VERSION,
    load_molecules,
    qm9pack_files,
)
from atomprobe.data.qm9 import TARGETS as QM9_TARGETS
from atomprobe.data.splits import (
    SPLITS,
    make_splits,
)
from atomprobe.errors import DataError
from atomprobe.io import Paths, read_parquet, write_parquet

log = logging.getLogger(__name__)


def qm9(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step ``qm9``: write ``outputs["structures"]`` from ``params`` (``name``, the dataset, and
    its config entry)."""
    source = params["source"]
    archive = inputs.get("archive") or None
    assert archive is None or isinstance(archive, str)
    exclude = params["exclude_uncharacterized"]
    frame = load_molecules(source, archive, exclude)
    log.info("QM9 from %s: %d molecules", source, len(frame))
    metadata = {
        "dataset": params["name"],
        "source": source,
        "n_rows": len(frame),
        "targets": QM9_TARGETS,
        "extensive_targets": list(EXTENSIVE_TARGETS),
        "exclude_uncharacterized": exclude,
        "hartree_to_ev": HARTREE_TO_EV,
        "smiles": "GDB-17 SMILES (first SMILES of each QM9 XYZ file)",
        "reference": "Ramakrishnan et al., Sci. Data 1, 140022 (2014); data CC0",
    }
    inputs_for_provenance = [archive] if archive else qm9pack_files()
    if source == "qm9pack":
        metadata["qm9pack_version"] = QM9PACK_VERSION
    assert isinstance(outputs["structures"], str)
    write_parquet(frame, outputs["structures"], metadata, params, inputs_for_provenance)


def qm9_archive(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step ``qm9_archive``: download ``params["archive"]["url"]`` to ``outputs["archive"]``."""
    spec = params["archive"]
    assert isinstance(outputs["archive"], str)
    download(
        spec["url"],
        outputs["archive"],
        spec["checksum"],
        retries=spec["retries"],
        timeout=spec["timeout_s"],
    )


def mp(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step ``mp``: write ``outputs["structures"]`` from ``params`` (``name``, the dataset, and
    its config entry)."""
    frame = load_mp(params)
    source = params["source"]
    metadata: dict[str, Any] = {
        "dataset": params["name"],
        "source": source,
        "n_rows": len(frame),
        "n_requested": params["size"],
        "targets": MP_TARGETS,
        "criteria": params["criteria"],
        "reference": "Materials Project (Jain et al., APL Materials 1, 011002, 2013); CC BY 4.0",
    }
    if "mp_database_version" in frame.attrs:
        metadata["mp_database_version"] = frame.attrs["mp_database_version"]
    if len(frame) < params["size"]:
        metadata["note"] = (
            f"{source} source has only {len(frame)} structures meeting the criteria; "
            f"all were taken instead of {params['size']}"
        )
        log.warning(metadata["note"])
    provenance_inputs: list[str | Path] = []
    if source == "offline":
        folder = Path(params.get("offline_dir") or shipped_offline_dir())
        provenance_inputs = [folder / name for name in OFFLINE_FILES]
        metadata["offline_sample"] = "MP-20 subset (CDVAE benchmark data), 1,112 crystals"
    assert isinstance(outputs["structures"], str)
    write_parquet(frame, outputs["structures"], metadata, params, provenance_inputs)


def structures_from_file(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: the structure table of a ``source: file`` dataset.

    params: ``name`` (the dataset) and its config entry (``path``, ``format``, ``pattern``,
    ``targets``, ``id_key``, ``periodic``, ``targets_file``, ``splits``).
    """
    name = params["name"]
    frames = read_frames(params["path"], params.get("format"), params.get("pattern"))
    table = frames_to_table(name, params, frames)
    log.info("%s from %s: %d structures", name, params["path"], len(table))
    metadata = {
        "dataset": name,
        "source": "file",
        "path": str(params["path"]),
        "n_rows": len(table),
        "n_periodic": int(table["pbc"].sum()),
        "targets": {t: spec["unit"] for t, spec in params["targets"].items()},
        "extensive_targets": [t for t, s in params["targets"].items() if s.get("extensive")],
    }
    sources = [str(p) for p in as_sources(params)]
    write_parquet(table, str(outputs["structures"]), metadata, params, sources)


def splits(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: split the ids of ``inputs["structures"]`` with ``params["splits"]``.

    A seeded draw (``seed``, sizes, ``disjoint``: :func:`make_splits`), or, with ``key``, the
    ``split`` column the file loader read from that info key (values train | val | test |
    probe; other values leave a structure out of every split).
    """
    structures = inputs["structures"]
    assert isinstance(structures, str) and isinstance(outputs["splits"], str)
    cfg = params["splits"]
    columns = ["id", "split"] if "key" in cfg else ["id"]
    frame, meta = read_parquet(structures, columns=columns)
    dataset = meta.get("dataset", "?")
    if "key" in cfg:
        table = pd.concat(
            [frame.loc[frame["split"] == name, ["id", "split"]] for name in SPLITS],
            ignore_index=True,
        )
        if not (table["split"] == "train").any():
            raise DataError(
                f"data.{dataset}.splits.key: no structure has {cfg['key']} = train; "
                f"values must be one of {SPLITS}"
            )
    else:
        table = make_splits(
            frame["id"].tolist(), cfg, cfg["seed"], cfg["disjoint"], key=f"data.{dataset}.splits"
        )
    counts = table["split"].value_counts().reindex(list(SPLITS), fill_value=0).to_dict()
    log.info("%s splits: %s", dataset, counts)
    metadata = {
        "dataset": dataset,
        "seed": cfg.get("seed"),
        "disjoint": cfg.get("disjoint"),
        "key": cfg.get("key"),
        "sizes": counts,
        "n_structures": len(frame),
    }
    write_parquet(table, outputs["splits"], metadata, params=cfg, inputs=[structures])
