"""Device resolution: auto/cpu/cuda names, CPU fallback, CUDA_VISIBLE_DEVICES, logging."""

from __future__ import annotations

import logging

import pytest
import torch

from atomprobe.device import resolve_device
from atomprobe.errors import ConfigError


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend ``n`` CUDA GPUs are visible (0 means none); returns the setter."""

    def set_gpus(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: f"FakeGPU-{i}")

    return set_gpus


def test_cpu_is_cpu_even_with_gpus(fake_gpus):
    fake_gpus(2)
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_falls_back_to_cpu_without_gpu(fake_gpus, caplog):
    fake_gpus(0)
    with caplog.at_level(logging.INFO, logger="atomprobe.device"):
        assert resolve_device("auto") == torch.device("cpu")
    assert "device: cpu (auto: no CUDA GPU visible;" in caplog.text


@pytest.mark.parametrize(
    ("cuda_build", "visible", "reason"),
    [
        (None, "0", "CPU-only build"),
        ("12.4", "", "CUDA_VISIBLE_DEVICES=''"),
        ("12.4", None, "no CUDA device or driver found"),
    ],
)
def test_cpu_fallback_names_the_reason(fake_gpus, monkeypatch, caplog, cuda_build, visible, reason):
    fake_gpus(0)
    monkeypatch.setattr(torch.version, "cuda", cuda_build)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    with caplog.at_level(logging.INFO, logger="atomprobe.device"):
        resolve_device("auto")
    assert reason in caplog.text


def test_auto_uses_first_visible_gpu_and_logs_it(fake_gpus, monkeypatch, caplog):
    fake_gpus(1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with caplog.at_level(logging.INFO, logger="atomprobe.device"):
        assert resolve_device("auto") == torch.device("cuda", 0)
    assert "cuda:0" in caplog.text
    assert "FakeGPU-0" in caplog.text
    assert "CUDA_VISIBLE_DEVICES=3" in caplog.text


def test_auto_warns_when_several_gpus_are_unpinned(fake_gpus, monkeypatch, caplog):
    fake_gpus(4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with caplog.at_level(logging.INFO, logger="atomprobe.device"):
        assert resolve_device("auto") == torch.device("cuda", 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "4 GPUs visible" in warnings[0].getMessage()


def test_no_warning_when_pinned(fake_gpus, monkeypatch, caplog):
    fake_gpus(2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    with caplog.at_level(logging.INFO, logger="atomprobe.device"):
        resolve_device("auto")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(("name", "index"), [("cuda", 0), ("cuda:1", 1), (" CUDA:1 ", 1)])
def test_explicit_cuda_index(fake_gpus, name, index):
    fake_gpus(2)
    assert resolve_device(name) == torch.device("cuda", index)


@pytest.mark.parametrize(("n_gpus", "name"), [(0, "cuda"), (0, "cuda:0"), (2, "cuda:2")])
def test_explicit_cuda_without_that_gpu_raises(fake_gpus, monkeypatch, n_gpus, name):
    fake_gpus(n_gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match=r"device: .* requested but .* set device: auto"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps", "", "cuda:-1"])
def test_unknown_names_raise(fake_gpus, name):
    fake_gpus(1)
    with pytest.raises(ConfigError, match="unknown value"):
        resolve_device(name)


def test_non_string_raises(fake_gpus):
    fake_gpus(1)
    with pytest.raises(ConfigError, match="not a string"):
        resolve_device(0)
