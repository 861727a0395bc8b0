"""msglance.device.resolve_device: the one device resolver of every command (issue 11, item 6)."""

from __future__ import annotations

import pytest
import torch

from msglance.device import resolve_device


def test_cpu_and_auto_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" auto ", local_rank=3) == torch.device("cpu")


@pytest.mark.parametrize("name", ["bogus", "cuda:x", "", "meta", "gpu"])
def test_bad_names_are_value_errors_naming_the_device(name):
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "auto-cuda"])
def test_cuda_on_a_machine_without_it_is_a_value_error(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if name == "auto-cuda":
        assert resolve_device("auto").type == "cpu"  # auto never asks for what is missing
        return
    with pytest.raises(ValueError, match=r"CUDA is not available.*--device cpu"):
        resolve_device(name)


def test_cuda_index_and_local_rank(monkeypatch):
    """With CUDA present (faked: nothing is allocated), the rules of the torchrun harness."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:0", local_rank=1) == torch.device("cuda", 0)  # explicit wins
    with pytest.raises(ValueError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


def test_every_command_uses_this_resolver():
    """No second resolver survives (inr.fit and mri.train each had their own)."""
    import msglance.inr.fit as fit
    import msglance.mri.train as train

    assert not hasattr(train, "_resolve_device")
    assert "resolve_device" not in fit.__all__
    assert fit.resolve_device is resolve_device and train.resolve_device is resolve_device
