"""Materials Project: offline sample (checksums, pymatgen values), API path via a local server."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from atomprobe.data.mp import draw_subset, load_mp, read_offline, shipped_offline_dir
from atomprobe.data.steps import mp
from atomprobe.data.structures import load_structures
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import read_metadata

FIXTURES = Path(__file__).parent / "fixtures" / "data"
API_DOCS = json.loads((FIXTURES / "mp_api_summary.json").read_text())
FAKE_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, like a real key
CRITERIA = {"max_sites": 20, "energy_above_hull_max": 0.08, "formation_energy_max": 2.0}


def _params(**changes) -> dict:
    params = {
        "name": "mp",
        "source": "offline",
        "size": 2000,
        "seed": 0,
        "offline_dir": None,
        "endpoint": None,
        "criteria": dict(CRITERIA),
    }
    params.update(changes)
    return params


@pytest.fixture(scope="module")
def offline_table(tmp_path_factory) -> Path:
    """Offline build of 25 crystals with the default criteria."""
    out = tmp_path_factory.mktemp("mp") / "mp.parquet"
    mp({}, {"structures": str(out)}, _params(size=25), 1)
    return out


def test_offline_too_few_structures_takes_all_and_says_so(tmp_path):
    out = tmp_path / "mp.parquet"
    strict = {**CRITERIA, "formation_energy_max": -3.5}  # 28 of the 1,112 crystals
    mp({}, {"structures": str(out)}, _params(criteria=strict), 1)
    meta = read_metadata(out)
    raw = read_offline()
    assert meta["n_rows"] == (raw["formation_energy_per_atom"] <= -3.5).sum() == 28
    assert meta["n_requested"] == 2000 and "all were taken" in meta["note"]
    assert meta["targets"]["density"] == "g/cm^3"


def test_offline_draw_is_the_seeded_subset(offline_table):
    df = load_structures(offline_table)
    raw = read_offline()
    eligible = raw.loc[raw["e_above_hull"] <= 0.08, "material_id"]  # all have <= 20 sites
    assert df["id"].tolist() == draw_subset(eligible, 25, seed=0)


def test_offline_rows_match_pymatgen(offline_table):
    df = load_structures(offline_table)
    assert df["id"].is_unique and df["pbc"].all() and len(df) == 25
    raw = read_offline().set_index("material_id")
    for _, row in df.iterrows():
        reference = Structure.from_str(raw.loc[row["id"], "cif"], fmt="cif")
        rebuilt = Structure(
            Lattice(np.stack(row["lattice"])), list(row["species"]), np.stack(row["frac_coords"])
        )
        assert rebuilt.matches(reference)
        assert row["density"] == pytest.approx(reference.density, rel=1e-12)
        assert row["volume_per_atom"] == pytest.approx(reference.volume / len(reference))
        assert row["band_gap"] == raw.loc[row["id"], "band_gap"]
        np.testing.assert_allclose(np.stack(row["positions"]), reference.cart_coords)
        np.testing.assert_allclose(np.stack(row["cell"]), reference.lattice.matrix)
        assert row["formula"] == reference.composition.hill_formula.replace(" ", "")


def test_offline_subset_is_seeded_and_sorted():
    ids = [f"mp-{i}" for i in range(100)]
    first = draw_subset(ids, 10, seed=3)
    assert first == draw_subset(list(reversed(ids)), 10, seed=3) == sorted(first)
    assert first != draw_subset(ids, 10, seed=4)
    assert draw_subset(ids, 1000, seed=3) == sorted(ids)


def test_corrupt_offline_copy_is_one_line_error(tmp_path):
    for path in shipped_offline_dir().glob("*.csv.gz"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "val.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"val.csv.gz: sha256 differs") as info:
        read_offline(tmp_path)
    assert "\n" not in str(info.value)


def test_no_key_and_no_offline_data_says_how_to_provide_either(tmp_path, monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(DataError, match=r"set MP_API_KEY and data\.mp\.source: api, or point"):
        load_mp(_params(offline_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="needs the environment variable MP_API_KEY"):
        load_mp(_params(source="api"))


def test_unknown_source_is_one_line_error():
    with pytest.raises(ConfigError, match=r"data.mp.source: 'web' is unknown"):
        load_mp(_params(source="web"))


class _SummaryHandler(BaseHTTPRequestHandler):
    """Answers mp-api's /heartbeat and /materials/summary/ requests from API_DOCS."""

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.queries.append((url.path, query))  # type: ignore[attr-defined]
        if url.path == "/heartbeat":
            body = {
                "db_version": "2025.09.25",
                "access_controlled_batch_ids": [],
                "version": "0.87.3",
            }
        elif self.headers.get("x-api-key") != FAKE_KEY:
            self.send_error(401)
            return
        else:
            docs = (
                [d for d in API_DOCS if d["nsites"] <= int(query["nsites_max"])]
                if ("nsites_max" in query)
                else API_DOCS
            )
            if "material_ids" in query:
                wanted = set(query["material_ids"].split(","))
                docs = [d for d in docs if d["material_id"] in wanted]
            fields = query["_fields"].split(",")
            body = {
                "data": [{f: d[f] for f in fields} for d in docs],
                "meta": {"total_doc": len(docs), "max_limit": 1000},
            }
        blob = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def api_server(monkeypatch, tmp_path) -> Iterator[str]:
    monkeypatch.setenv("HOME", str(tmp_path))  # mp-api may keep small files in ~
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SummaryHandler)
    httpd.queries = []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_api_path_with_local_server(api_server, monkeypatch, tmp_path):
    monkeypatch.setenv("MP_API_KEY", FAKE_KEY)
    endpoint = f"http://127.0.0.1:{api_server.server_address[1]}/"
    out = tmp_path / "mp.parquet"
    log_file = tmp_path / "mp.log"
    from atomprobe.runner import run_step

    run_step(
        "atomprobe.data.steps:mp",
        {},
        {"structures": str(out)},
        _params(source="api", size=3, seed=1, endpoint=endpoint),
        1,
        str(log_file),
    )
    df = load_structures(out)
    all_ids = [d["material_id"] for d in API_DOCS]
    assert df["id"].tolist() == draw_subset(all_ids, 3, seed=1)
    listing = next(q for p, q in api_server.queries if p == "/materials/summary/")
    assert listing["nsites_max"] == "20" and listing["energy_above_hull_max"] == "0.08"
    assert listing["formation_energy_per_atom_max"] == "2.0"
    assert "formation_energy_per_atom_min" not in listing  # no lower bound
    assert listing["deprecated"].lower() == "false"
    docs = {d["material_id"]: d for d in API_DOCS}
    for _, row in df.iterrows():
        reference = Structure.from_dict(docs[row["id"]]["structure"])
        assert row["density"] == pytest.approx(reference.density, rel=1e-12)
        assert row["band_gap"] == docs[row["id"]]["band_gap"]
    meta = read_metadata(out)
    assert meta["source"] == "api" and meta["mp_database_version"] == "2025.09.25"
    for written in (out, log_file):
        assert FAKE_KEY.encode() not in written.read_bytes()


def test_api_rejected_key_is_one_line_error(api_server, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "f" * 32)
    endpoint = f"http://127.0.0.1:{api_server.server_address[1]}/"
    with pytest.raises(DataError, match="Materials Project API request failed") as info:
        load_mp(_params(source="api", size=3, endpoint=endpoint), progress=False)
    assert "\n" not in str(info.value) and "f" * 32 not in str(info.value)
