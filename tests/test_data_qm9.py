"""QM9: XYZ parser (incl. ``*^``), units, qm9pack == archive on real molecules, errors."""

from __future__ import annotations

import functools
import io
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase.formula import Formula

from atomprobe.data import iter_atoms, load_structures
from atomprobe.data.qm9 import (
    HARTREE_TO_EV,
    N_MOLECULES,
    load_molecules,
    parse_xyz,
    qm9pack_indices,
    read_archive,
    uncharacterized_indices,
)
from atomprobe.data.steps import qm9, qm9_archive
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import read_metadata, sha256_file

SAMPLE = Path(__file__).parent / "fixtures" / "data" / "qm9_sample.tar.bz2"
SAMPLE_INDICES = [1, 2, 3, 23, 212, 1460, 4233, 20019, 44747, 89009, 105000, 133885]

# dsgdb9nsd_000001.xyz of the QM9 archive, verbatim (tabs and trailing tabs included).
METHANE = (
    "5\n"
    "gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t"
    "0.044749\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t\n"
    "C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\n"
    "H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921\n"
    "H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\n"
    "H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\n"
    "H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923\n"
    "1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t"
    "3151.7078\n"
    "C\tC\t\n"
    "InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n"
)


def _tar(tmp_path: Path, files: dict[str, str]) -> Path:
    path = tmp_path / "archive.tar.bz2"
    with tarfile.open(path, "w:bz2") as archive:
        for name, text in files.items():
            blob = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path


def test_parse_methane_in_target_units(tmp_path):
    mol = parse_xyz(METHANE)
    assert mol.index == 1 and mol.smiles == "C"
    assert mol.numbers.tolist() == [6, 1, 1, 1, 1]
    np.testing.assert_array_equal(mol.positions[1], [0.002150416, -0.0060313176, 0.0019761204])
    archive = _tar(tmp_path, {"dsgdb9nsd_000001.xyz": METHANE})
    frame = load_molecules("archive", archive, progress=False)
    row = frame.iloc[0]
    assert row["id"] == "qm9:1" and row["formula"] == "CH4" and not row["pbc"]
    assert row["gap"] == pytest.approx(13.7363, abs=1e-4)  # 0.5048 Ha; 1 Ha = 27.2114 eV
    assert row["homo"] == pytest.approx(-0.3877 * 27.211386, rel=1e-7)
    assert row["u0"] == pytest.approx(-40.47893 * 27.211386, rel=1e-7)
    assert (row["mu"], row["alpha"], row["r2"], row["cv"]) == (0.0, 13.21, 35.3641, 6.469)
    assert HARTREE_TO_EV == pytest.approx(27.211386, abs=1e-6)


def test_mathematica_exponent_notation():
    text = METHANE.replace("0.0080009958", "-2.5*^-6").replace("\t0.\t13.21", "\t1.5*^-3\t13.21")
    mol = parse_xyz(text)
    assert mol.positions[0, 2] == -2.5e-6
    assert mol.properties["mu"] == 1.5e-3
    sample = {m.index: m for m in read_archive(SAMPLE, progress=False)}
    assert sample[212].positions[0, 0] == 2.1997e-6  # written "2.1997*^-6" in the file


def test_fixture_reproduces_the_archive_text_of_methane():
    with tarfile.open(SAMPLE) as archive:
        handle = archive.extractfile("dsgdb9nsd_000001.xyz")
        assert handle is not None and handle.read().decode() == METHANE


def test_qm9pack_and_archive_give_identical_rows():
    from_archive = load_molecules("archive", SAMPLE, progress=False)
    from_qm9pack = load_molecules("qm9pack", indices=SAMPLE_INDICES, progress=False)
    assert from_archive["id"].tolist() == [f"qm9:{i}" for i in SAMPLE_INDICES]
    pd.testing.assert_frame_equal(from_archive, from_qm9pack, check_exact=True)


def test_uncharacterized_list_is_what_qm9pack_leaves_out():
    excluded = uncharacterized_indices()
    shipped = qm9pack_indices()
    assert len(excluded) == 3054 and len(shipped) == 130_831 == N_MOLECULES - 3054
    assert set(range(1, N_MOLECULES + 1)) - set(shipped.tolist()) == excluded


def test_archive_exclusion_switch(tmp_path):
    flagged = METHANE.replace("gdb 1\t", "gdb 58\t")  # 58 is on the uncharacterized list
    path = _tar(tmp_path, {"dsgdb9nsd_000001.xyz": METHANE, "dsgdb9nsd_000058.xyz": flagged})
    assert load_molecules("archive", path, True, progress=False)["id"].tolist() == ["qm9:1"]
    kept = load_molecules("archive", path, False, progress=False)["id"].tolist()
    assert kept == ["qm9:1", "qm9:58"]


def test_step_writes_table_that_loads_as_atoms(tmp_path):
    out = tmp_path / "qm9.parquet"
    params = {"name": "qm9", "source": "archive", "exclude_uncharacterized": True}
    qm9({"archive": str(SAMPLE)}, {"structures": str(out)}, params, 1)
    meta = read_metadata(out)
    assert meta["dataset"] == "qm9" and meta["n_rows"] == 12 and meta["targets"]["gap"] == "eV"
    df = load_structures(out, ids=["qm9:212", "qm9:1"])
    assert df["id"].tolist() == ["qm9:212", "qm9:1"]
    atoms = list(iter_atoms(df))
    assert atoms[1].get_chemical_formula() == "CH4" and not atoms[1].pbc.any()
    assert str(Formula(atoms[0].get_chemical_formula())) == str(Formula(df["formula"][0]))
    np.testing.assert_array_equal(atoms[0].positions, np.stack(df["positions"][0]))


def test_qm9pack_cannot_keep_uncharacterized():
    with pytest.raises(ConfigError, match="exclude_uncharacterized: false needs") as info:
        load_molecules("qm9pack", exclude_uncharacterized=False)
    assert "\n" not in str(info.value)


def test_bad_source_name():
    with pytest.raises(ConfigError, match=r"data\.qm9\.source: 'qm10' is unknown"):
        load_molecules("qm10")


def test_corrupt_archive_is_one_line_error(tmp_path):
    path = tmp_path / "dsgdb9nsd.xyz.tar.bz2"
    path.write_bytes(b"BZh91AY&SY" + b"\x00" * 100)
    with pytest.raises(DataError, match=r"not a readable tar\.bz2 archive") as info:
        load_molecules("archive", path, progress=False)
    assert "\n" not in str(info.value)


def test_malformed_xyz_names_the_file():
    with pytest.raises(DataError, match=r"x\.xyz: not a QM9 XYZ file"):
        parse_xyz("5\ngdb 1\t1.0\nC\t0\t0\t0\t0\n", name="x.xyz")


def test_load_structures_rejects_unknown_ids(tmp_path):
    out = tmp_path / "qm9.parquet"
    qm9(
        {"archive": str(SAMPLE)},
        {"structures": str(out)},
        {"name": "qm9", "source": "archive", "exclude_uncharacterized": True},
        1,
    )
    with pytest.raises(DataError, match="1 requested ids are absent"):
        load_structures(out, ids=["qm9:1", "qm9:4"])


def test_archive_step_downloads_and_verifies(tmp_path):
    handler = functools.partial(_QuietFiles, directory=str(SAMPLE.parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{SAMPLE.name}"
        spec = {
            "url": url,
            "checksum": "sha256:" + sha256_file(SAMPLE),
            "retries": 0,
            "timeout_s": 5,
        }
        out = tmp_path / "raw" / "dsgdb9nsd.xyz.tar.bz2"
        qm9_archive({}, {"archive": str(out)}, {"archive": spec}, 1)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert out.read_bytes() == SAMPLE.read_bytes()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""
