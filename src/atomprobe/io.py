"""Atomic file writes and parquet tables that carry provenance metadata.

Every parquet written by the pipeline stores a JSON document under the schema metadata key
``atomprobe``: the caller's metadata (units, column descriptions, ...) plus ``provenance``
(package versions, a hash of the parameters that produced it, sha256 of its inputs).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from atomprobe.errors import DataError

METADATA_KEY = b"atomprobe"
_TRACKED_PACKAGES = (
    "atomprobe",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "skmatter",
    "torch",
    "torch-geometric",
    "mace-torch",
    "e3nn",
    "torchani",
    "sevenn",
    "chgnet",
    "pymatgen",
    "ase",
)


# A step's inputs or outputs: names to one path or a list of paths (atomprobe.runner).
Paths = Mapping[str, str | list[str]]


def as_path_list(paths: str | list[str] | None) -> list[str]:
    """A step input given as one path, a list of paths or nothing (None), as a list.

    Parameters
    ----------
    paths : str or list of str or None
        One path, several paths, or None.

    Returns
    -------
    list of str
        ``[paths]`` for one path, a copy of the list, or ``[]`` for None.
    """
    if paths is None:
        return []
    return [paths] if isinstance(paths, str) else list(paths)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files a killed :func:`atomic_path` block left beside ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Final path of an output about to be written (only its job writes it, so every
        ``.<name>.*.tmp`` beside it is a leftover of a killed attempt).

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    target = Path(path)
    if not target.parent.is_dir():
        return []
    stale = sorted(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    On any exception the temporary file is removed, so a failed job never leaves a
    half-written output behind; the content is fsync'ed before the rename. A job killed
    outright (SIGKILL) can leave its ``.<name>.*.tmp`` file: nothing reads those, Snakemake
    reruns the job (``rerun-incomplete`` in the default profile), and the rerun removes them
    (:func:`remove_stale_temporaries`, called by :func:`atomprobe.runner.run_step`). Missing
    parent folders are created; the output gets the permissions a plain ``open()`` would give it.

    Parameters
    ----------
    path : str or os.PathLike
        Final path of the output.

    Yields
    ------
    pathlib.Path
        The temporary file (already created, empty) to write to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; give the output the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        with open(tmp, "rb") as handle:  # on disk before the rename: a crash cannot leave
            os.fsync(handle.fileno())  # a complete-looking name over incomplete content
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.
    chunk_size : int, default=1 << 20
        Bytes read at a time.

    Returns
    -------
    str
        The 64-character hexadecimal digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def params_hash(params: Mapping[str, Any]) -> str:
    """Short stable hash of a JSON-serialisable parameter mapping (key order ignored).

    Parameters
    ----------
    params : mapping
        Parameters; values that are not JSON-serialisable are hashed as their ``str``.

    Returns
    -------
    str
        The first 16 hexadecimal characters of the sha256 of the sorted-key JSON.
    """
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose behaviour the results depend on.

    Returns
    -------
    dict of str to str
        Distribution name to installed version; packages not installed are left out.
    """
    versions = {}
    for name in _TRACKED_PACKAGES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            versions[name] = importlib_metadata.version(name)
    return versions


def provenance(
    params: Mapping[str, Any] | None = None, inputs: Sequence[str | os.PathLike[str]] = ()
) -> dict[str, Any]:
    """Provenance record: package versions, parameter hash and input checksums.

    Parameters
    ----------
    params : mapping or None, default=None
        Parameters that produced the output (None for none).
    inputs : sequence of str or os.PathLike, default=()
        Input files, hashed with :func:`sha256_file`.

    Returns
    -------
    dict
        ``packages`` (:func:`package_versions`), ``params_hash`` (:func:`params_hash`),
        ``params`` (a copy) and ``inputs`` (path to hex sha256).
    """
    return {
        "packages": package_versions(),
        "params_hash": params_hash(params or {}),
        "params": dict(params or {}),
        "inputs": {str(p): sha256_file(p) for p in inputs},
    }


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: all but the floating-point ones.

    Feature and score columns are floats with few repeated values, where a dictionary only
    adds a page to every column chunk: without it, feature files take about a third less space,
    write 2-6× and read 1.3-3.9× faster, identical tables (benchmarks/bench_parquet_encoding.py,
    README "Runtime and benchmarks").

    Parameters
    ----------
    schema : pyarrow.Schema
        Schema of the table to write.

    Returns
    -------
    list of str
        Names of its non-floating-point columns.
    """
    return [field.name for field in schema if not pa.types.is_floating(field.type)]


def write_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Write ``df`` atomically to ``path`` with metadata and provenance in the schema.

    The document ``metadata`` plus ``provenance`` is stored as JSON under the schema metadata key
    ``atomprobe``; the table is zstd-compressed and the index dropped.

    Parameters
    ----------
    df : DataFrame
        Table to write.
    path : str or os.PathLike
        Output parquet.
    metadata : mapping or None, default=None
        Caller's metadata (units, column descriptions, ...).
    params : mapping or None, default=None
        Parameters that produced the table (see :func:`provenance`).
    inputs : sequence of str or os.PathLike, default=()
        Input files whose sha256 is recorded.
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    doc = dict(metadata or {})
    doc["provenance"] = provenance(params, inputs)
    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[METADATA_KEY] = json.dumps(doc, default=str).encode()
    table = table.replace_schema_metadata(schema_metadata)
    with atomic_path(path) as tmp:
        pq.write_table(
            table, tmp, compression="zstd", use_dictionary=dictionary_columns(table.schema)
        )


class ParquetBatchWriter:
    """Write a parquet table one batch (row group) at a time, atomically.

    The metadata and provenance are those :func:`write_parquet` stores; for tables too large to
    hold in memory at once. Use as a context manager; the file appears at ``path`` only when
    the block succeeds (see :func:`atomic_path`). ``metadata`` is read when the first batch is
    written, so a caller may complete it (e.g. with column descriptions known from the first
    batch) until then.

    Parameters
    ----------
    path : str or os.PathLike
        Output parquet.
    metadata : dict
        Caller's metadata (units, column descriptions, ...).
    params : mapping or None, default=None
        Parameters that produced the table (see :func:`provenance`).
    inputs : sequence of str or os.PathLike, default=()
        Input files whose sha256 is recorded.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: dict[str, Any],
        params: Mapping[str, Any] | None = None,
        inputs: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.path, self.metadata = path, metadata
        self._provenance = provenance(params, inputs)
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetBatchWriter:
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append one batch as one row group.

        Parameters
        ----------
        frame : DataFrame
            The batch: the same columns and types as the first batch.
        """
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            doc = {**self.metadata, "provenance": self._provenance}
            schema_metadata = dict(table.schema.metadata or {})
            schema_metadata[METADATA_KEY] = json.dumps(doc, default=str).encode()
            schema = table.schema.with_metadata(schema_metadata)
            self._writer = pq.ParquetWriter(
                self._tmp, schema, compression="zstd", use_dictionary=dictionary_columns(schema)
            )
        self._writer.write_table(table)

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            elif exc_info[0] is None:
                raise DataError(f"{self.path}: no batch was written; nothing to write")
        except BaseException:  # the temporary file goes, as for a failed block
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.__exit__(*exc_info)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``atomprobe`` metadata document of a parquet file ({} if it has none).

    Parameters
    ----------
    path : str or os.PathLike
        Parquet file.

    Returns
    -------
    dict
        The metadata document (with ``provenance`` if written by :func:`write_parquet`).

    Raises
    ------
    DataError
        The file is missing or not a readable parquet file.
    """
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc}); rebuild it") from exc
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def read_parquet(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a parquet file written by :func:`write_parquet`: (frame, metadata document).

    Parameters
    ----------
    path : str or os.PathLike
        Parquet file.
    columns : sequence of str or None, default=None
        Columns to read; None for all.

    Returns
    -------
    frame : DataFrame
        The table.
    metadata : dict
        Its metadata document (see :func:`read_metadata`).

    Raises
    ------
    DataError
        The file is missing or not a readable parquet file.
    """
    meta = read_metadata(path)
    df = pq.read_table(path, columns=list(columns) if columns is not None else None).to_pandas()
    return df, meta


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    text : str
        Its content.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)
