"""Download a file with checksum verification, HTTP Range resume, retries and atomic rename.

The transfer goes to a hidden ``.part`` file beside the target. A dropped connection resumes
from the bytes already received (``Range: bytes=N-``; a server that ignores Range restarts the
file); server errors (5xx, 408, 429) and network errors are retried with exponential back-off.
Only a complete file whose checksum matches is renamed to the target; on any failure the partial
file is removed and :class:`~atomprobe.errors.DownloadError` says what went wrong in one line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import requests

from atomprobe.data.progress import progress as progress_bar
from atomprobe.errors import DownloadError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 16


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"<algorithm>:<hex digest>"`` (e.g. ``sha256:ab12...``) into its two parts."""
    algorithm, sep, digest = checksum.partition(":")
    if not sep or algorithm not in hashlib.algorithms_guaranteed or not digest:
        raise DownloadError(
            f"checksum {checksum!r} is not '<algorithm>:<hex digest>' (e.g. 'sha256:…' or "
            "'md5:…'); fix it in the config"
        )
    return algorithm, digest.lower()


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file with any ``hashlib`` algorithm."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class _Retryable(Exception):
    """A transfer attempt failed in a way that another attempt may fix."""


def _range_start(content_range: str) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header (None if malformed)."""
    unit, _, span = content_range.partition(" ")
    start = span.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def _fetch_once(
    session: requests.Session, url: str, part: Path, timeout: float, progress: bool
) -> None:
    """Append the missing bytes of ``url`` to ``part``; return only when the file is complete."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
            if response.status_code == 416 and have:  # nothing left to send: already complete
                return
            if response.status_code in RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code not in (200, 206):
                raise DownloadError(
                    f"{url}: HTTP {response.status_code} {response.reason}; check the URL"
                )
            if response.status_code == 200:
                have = 0  # the server ignored Range: start over
            elif _range_start(response.headers.get("Content-Range", "")) != have:
                part.unlink()
                raise _Retryable("server resumed at another offset; starting over")
            remaining = response.headers.get("Content-Length")
            total = have + int(remaining) if remaining is not None else None
            with (
                open(part, "ab" if have else "wb") as handle,
                progress_bar(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    desc=Path(url).name or url,
                    enabled=progress,
                    leave=False,
                ) as bar,
            ):
                for chunk in response.iter_content(CHUNK_BYTES):
                    handle.write(chunk)
                    bar.update(len(chunk))
    except requests.RequestException as exc:
        raise _Retryable(type(exc).__name__) from exc
    received = part.stat().st_size
    if total is not None and received != total:
        raise _Retryable(f"transfer ended after {received} of {total} bytes")


def download(
    url: str,
    destination: str | os.PathLike[str],
    checksum: str,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``destination`` unless a file with the right checksum is there.

    Args:
        url: http(s) address of the file.
        destination: final path; written only once the whole file has the right checksum.
        checksum: ``"<hashlib algorithm>:<hex digest>"``, e.g. ``"sha256:…"`` or ``"md5:…"``.
        retries: further attempts after a network error, a truncated transfer or HTTP 5xx;
            each resumes from the bytes already received.
        timeout: seconds to wait for the server to connect or to send the next bytes.
        backoff: seconds before the first retry, doubled for each following one.
        progress: show a tqdm progress bar.

    Returns:
        ``destination`` as a Path.
    """
    algorithm, expected = parse_checksum(checksum)
    target = Path(destination)
    if target.exists():
        if file_digest(target, algorithm) == expected:
            log.info("%s: present with the expected %s, not downloading", target, algorithm)
            return target
        log.warning(
            "%s: present but its %s differs; deleting it, downloading again", target, algorithm
        )
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    part.unlink(missing_ok=True)
    try:
        with requests.Session() as session:
            for attempt in range(retries + 1):
                try:
                    _fetch_once(session, url, part, timeout, progress)
                    break
                except _Retryable as exc:
                    if attempt == retries:
                        raise DownloadError(
                            f"{url}: download failed after {retries + 1} attempts ({exc}); "
                            "check the network or the URL and run again"
                        ) from exc
                    wait = backoff * 2**attempt
                    log.warning("%s: %s; retrying in %.0f s", url, exc, wait)
                    time.sleep(wait)
        actual = file_digest(part, algorithm)
        if actual != expected:
            raise DownloadError(
                f"{url}: {algorithm} is {actual}, expected {expected}; the file was deleted "
                "(a changed upstream file or a wrong checksum in the config)"
            )
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    log.info("%s: downloaded, %s verified", target, algorithm)
    return target
