"""Download: checksum, resume after a truncated transfer, retry after a server error, cleanup.

A local ``http.server`` on 127.0.0.1 serves one payload under paths that behave differently.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from atomprobe.data.download import download
from atomprobe.errors import DownloadError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA256 = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """Paths: /good, /flaky (HTTP 500 once), /truncated-once (half the bytes, then the
    connection drops; Range honoured afterwards), /truncated-always, /missing (404),
    /wrong-offset (truncated once, then a 206 that restarts at byte 0 despite the Range)."""

    def do_GET(self) -> None:
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        calls = sum(p == self.path for p, _ in server.requests)  # type: ignore[attr-defined]
        if self.path == "/missing":
            self.send_error(404)
            return
        if self.path == "/flaky" and calls == 1:
            self.send_error(500)
            return
        start = 0
        range_header = self.headers.get("Range")
        if range_header:
            start = 0 if self.path == "/wrong-offset" else int(range_header[6:].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        truncate = self.path == "/truncated-always" or (
            self.path in ("/truncated-once", "/wrong-offset") and calls == 1
        )
        self.wfile.write(body[: len(body) // 2] if truncate else body)
        if truncate:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _fetch(server: ThreadingHTTPServer, path: str, dest: Path, checksum: str = SHA256) -> Path:
    return download(
        _url(server, path), dest, checksum, retries=2, backoff=0.0, timeout=5, progress=False
    )


def test_good_file_is_downloaded_and_verified(server, tmp_path):
    dest = _fetch(server, "/good", tmp_path / "file.bin")
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]
    _fetch(server, "/good", dest)  # present with the right checksum: no second request
    assert len(server.requests) == 1


def test_wrong_checksum_leaves_no_file(server, tmp_path):
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DownloadError, match=r"sha256 is .* expected 0{64}") as info:
        _fetch(server, "/good", tmp_path / "file.bin", wrong)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_resumes_with_range(server, tmp_path):
    dest = _fetch(server, "/truncated-once", tmp_path / "file.bin")
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [
        ("/truncated-once", None),
        ("/truncated-once", f"bytes={len(PAYLOAD) // 2}-"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_resume_at_a_wrong_offset_starts_over(server, tmp_path):
    dest = _fetch(server, "/wrong-offset", tmp_path / "file.bin")
    assert dest.read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [None, f"bytes={len(PAYLOAD) // 2}-", None]


def test_transfer_that_never_completes_fails_and_cleans_up(server, tmp_path):
    with pytest.raises(DownloadError, match="failed after 3 attempts"):
        _fetch(server, "/truncated-always", tmp_path / "file.bin")
    assert list(tmp_path.iterdir()) == []


def test_server_error_then_success(server, tmp_path):
    dest = _fetch(server, "/flaky", tmp_path / "file.bin")
    assert dest.read_bytes() == PAYLOAD
    assert [r for r, _ in server.requests] == ["/flaky", "/flaky"]


def test_not_found_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        _fetch(server, "/missing", tmp_path / "file.bin")
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_stale_file_with_wrong_checksum_is_replaced(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"stale")
    assert _fetch(server, "/good", dest).read_bytes() == PAYLOAD


def test_malformed_checksum_is_one_line_error(tmp_path):
    with pytest.raises(DownloadError, match="not '<algorithm>:<hex digest>'"):
        download("http://127.0.0.1:9/x", tmp_path / "f", "deadbeef", progress=False)
