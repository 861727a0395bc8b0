"""LTRP training loops: they learn, resume exactly, refuse mismatches, and run under 2-process DDP."""

from __future__ import annotations

import doctest
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

import msglance.ranking.datasets as datasets_module
import msglance.ranking.training as training_module
from msglance.ranking.checkpoint import read_checkpoint
from msglance.ranking.mae import MAEConfig, MaskedAutoencoder
from msglance.ranking.ranker import PatchRanker, RankerConfig
from msglance.ranking.training import train_classifier, train_mae, train_ranker

SMALL = dict(image_size=16, patch=4, dim=16, depth=1, heads=2)
MAE_CFG = MAEConfig(decoder_dim=16, decoder_depth=1, decoder_heads=2, **SMALL)
RANKER_CFG = RankerConfig(**SMALL)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def blobs(n: int = 32, seed: int = 0) -> torch.Tensor:
    """Synthetic: a bright 4x4 square at a random patch of a dark 16x16 image."""
    g = torch.Generator().manual_seed(seed)
    x = 0.05 * torch.rand(n, 1, 16, 16, generator=g)
    pos = torch.randint(0, 16, (n,), generator=g)
    for i, p in enumerate(pos.tolist()):
        r, c = divmod(p, 4)
        x[i, 0, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = 1.0
    return x


def test_doctests():
    for module in (training_module, datasets_module):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def test_ranker_learns_to_rank_the_removal_that_matters(tmp_path):
    x = blobs(48)
    mae = train_mae(x, MAE_CFG, epochs=12, batch_size=16, lr=3e-3, device="cpu").model
    r = train_ranker(mae, x, RANKER_CFG, epochs=12, batch_size=16, lr=3e-3, mask_ratio=0.5,
                     device="cpu", out=tmp_path / "ranker")
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    ranker = PatchRanker.from_checkpoint(tmp_path / "ranker" / "last.pt")
    torch.testing.assert_close(ranker.rank(x), r.model.rank(x))


def test_resume_continues_exactly_and_refuses_changed_settings(tmp_path):
    x = blobs(24)
    full = train_mae(x, MAE_CFG, epochs=2, batch_size=8, device="cpu", out=tmp_path / "full")
    train_mae(x, MAE_CFG, epochs=1, batch_size=8, device="cpu", out=tmp_path / "part")
    resumed = train_mae(x, MAE_CFG, epochs=2, batch_size=8, device="cpu", out=tmp_path / "part",
                        resume=True)
    assert resumed.resumed_from_epoch == 1
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history])
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(FileExistsError, match="--resume"):
        train_mae(x, MAE_CFG, epochs=2, batch_size=8, device="cpu", out=tmp_path / "part")
    with pytest.raises(ValueError, match="lr"):
        train_mae(x, MAE_CFG, epochs=3, batch_size=8, lr=0.5, device="cpu", out=tmp_path / "part",
                  resume=True)
    assert read_checkpoint(tmp_path / "part" / "last.pt", "mae")["epoch"] == 2
    with pytest.raises(ValueError, match="not a ranker checkpoint"):
        PatchRanker.from_checkpoint(tmp_path / "part" / "last.pt")


def test_classifier_on_kept_tokens_learns_the_labels():
    x = blobs(64, seed=1)
    y = (x[:, 0, :8].mean(dim=(1, 2)) > x[:, 0, 8:].mean(dim=(1, 2))).long()  # blob in top half
    ids = torch.arange(8).expand(64, 8).contiguous()  # the 8 tokens of the top half
    r = train_classifier(x, y, ids, epochs=15, batch_size=16, lr=3e-3, device="cpu")
    acc = float((r.model(x, ids).argmax(1) == y).float().mean())
    assert acc > 0.8


def test_bad_training_input_is_a_value_error():
    x = blobs(4)
    with pytest.raises(ValueError, match="mask_ratio"):
        train_mae(x, MAE_CFG, mask_ratio=0.95, device="cpu")
    mae = MaskedAutoencoder(MAE_CFG)
    with pytest.raises(ValueError, match="mode"):
        train_ranker(mae, x, RANKER_CFG, mode="fast", device="cpu")
    with pytest.raises(ValueError, match="unknown ranking loss"):
        train_ranker(mae, x, RANKER_CFG, loss="dcg", device="cpu")
    with pytest.raises(ValueError, match="epochs"):
        train_mae(x, MAE_CFG, epochs=0, device="cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    x = blobs(16)
    mae = MaskedAutoencoder(MAE_CFG)
    r = train_ranker(mae, x, RANKER_CFG, epochs=1, batch_size=4, mask_ratio=0.5, device="cpu",
                     out=os.path.join(out, "run"))
    torch.save({"history": r.history, "state": r.model.state_dict()},
               os.path.join(out, f"rank{rank}.pt"))


def test_ddp_ranker_training_with_two_gloo_processes(tmp_path):
    try:
        mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    except mp.ProcessExitedException as exc:
        # gloo's teardown on a loaded 2-core machine was seen once to abort one process at
        # exit ("terminate called without an active exception", SIGABRT) after training had
        # run; one fresh retry in a new folder, anything else (or a second abort) fails
        if exc.signal_name != "SIGABRT":
            raise
        tmp_path = tmp_path / "retry"
        tmp_path.mkdir()
        mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0["history"][0]["loss"] == pytest.approx(r1["history"][0]["loss"], abs=1e-6)
    for a, b in zip(r0["state"].values(), r1["state"].values()):
        torch.testing.assert_close(a, b)  # gradients were averaged: same weights everywhere
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt", "ranker")
    assert ckpt["world_size"] == 2
    # 16 items, 4 per batch per process, 2 processes -> 2 optimiser steps in the epoch
    assert int(ckpt["optimizer"]["state"][0]["step"]) == 2


def test_asymmetric_and_decoder_mode_ranker_training_run():
    x = blobs(8)
    mae = MaskedAutoencoder(MAE_CFG)
    r = train_ranker(mae, x, RANKER_CFG, epochs=1, batch_size=8, mask_ratio=0.5, asymmetric=True,
                     mode="decoder", loss="listnet", device="cpu")
    assert len(r.history) == 1 and r.history[0]["loss"] > 0
    ids = torch.arange(0, 16, 2).expand(8, 8)
    assert r.model(x, ids).shape == (8, 16)  # visible tokens in, a score per position out
