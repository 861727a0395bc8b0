"""MRI training: a tiny real run, exact resume, config checks, and 2-process gloo DDP."""

from __future__ import annotations

import csv
import dataclasses
import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from msglance.mri.masks import load_masks, mask_for_slice
from msglance.mri.checkpoint import load_checkpoint
from msglance.mri.config import (
    ConfigMismatchError,
    TrainConfig,
    load_config,
    parse_data_spec,
)
from msglance.mri.config import glance_grid_side as glance_grid
from msglance.mri.train import train


pytestmark = pytest.mark.usefixtures("one_thread_quiet")


def tiny(out, **kw) -> TrainConfig:
    base = dict(out=str(out), size=64, chans=4, pools=2, epochs=2, batch_size=4, lr=3e-3,
                limit=12, val_limit=4, orientations="axial", device="cpu",
                loss="l1+0.01*global+0.01*local")
    base.update(kw)
    return TrainConfig(**base)


def _weights(path):
    return load_checkpoint(path)["model"]


def test_tiny_training_lowers_the_loss_writes_the_run_and_resumes_exactly(tmp_path):
    events = []
    summary = train(tiny(tmp_path / "run"), progress=events.append)
    run = tmp_path / "run"
    h = summary.history
    assert [r["epoch"] for r in h] == [1, 2]
    assert h[1]["loss"] < h[0]["loss"], h
    assert h[1]["loss_l1"] < h[0]["loss_l1"], h
    for row in h:  # each term logged separately, validation metrics finite
        assert {"loss_l1", "loss_global", "loss_local", "val_psnr", "val_ssim"} <= set(row)
        assert 0.0 <= row["loss_global"] <= 2.0 and 0.0 <= row["loss_local"] <= 2.0
        assert np.isfinite(row["val_psnr"]) and -1 <= row["val_ssim"] <= 1
    with open(run / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and float(rows[1]["loss_l1"]) == pytest.approx(h[1]["loss_l1"], rel=1e-5)
    assert summary.parameters > 0 and summary.best_epoch in (1, 2)
    assert load_config(run) == tiny(tmp_path / "run")
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["config"]["loss"] == "l1+0.01*global+0.01*local"
    assert {"model", "optimizer", "rng", "history", "dataset_epoch"} <= set(ckpt)
    assert (run / "best.pt").is_file() and not list(run.glob("*.tmp"))
    masks = load_masks(run / "masks.npz")
    assert "s1045/sagittal/000" in masks
    some_id = next(k for k in masks if k.startswith("mni/axial/"))
    assert torch.equal(masks[some_id], mask_for_slice(some_id, 64, seed=0))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds.count("epoch_end") == 2 and "step" in kinds

    # interrupted after one epoch, then resumed to two: the same weights as the full run
    first = train(tiny(tmp_path / "part", epochs=1))
    assert first.epochs == 1
    resumed = train(tiny(tmp_path / "part", epochs=2), resume=True)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs == 2
    a, b = _weights(run / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0, msg=key)
    assert resumed.history[1]["loss"] == pytest.approx(h[1]["loss"], abs=1e-6)
    assert resumed.history[1]["val_psnr"] == pytest.approx(h[1]["val_psnr"], abs=1e-4)


def test_resume_refuses_a_different_config_and_fresh_runs_refuse_an_existing_dir(tmp_path):
    train(tiny(tmp_path / "run", epochs=1, limit=4))
    with pytest.raises(ConfigMismatchError, match=r"lr \(checkpoint 0.003, now 0.01\)"):
        train(tiny(tmp_path / "run", epochs=2, limit=4, lr=1e-2), resume=True)
    with pytest.raises(ConfigMismatchError, match="loss.*seed|seed"):
        train(tiny(tmp_path / "run", epochs=2, limit=4, seed=5, loss="l1"), resume=True)
    with pytest.raises(FileExistsError, match="resume"):
        train(tiny(tmp_path / "run", epochs=2, limit=4))
    again = train(tiny(tmp_path / "run", epochs=1, limit=4), resume=True)  # already done
    assert again.epochs == 1 and again.resumed_from_epoch == 1


def test_config_and_data_spec_errors():
    assert parse_data_spec("mni") == ("mni", None)
    assert parse_data_spec("ixi /data/IXI") == ("ixi", "/data/IXI")
    assert parse_data_spec("fastmri:/x/y") == ("fastmri", "/x/y")
    with pytest.raises(ValueError, match="needs a path"):
        parse_data_spec("ixi")
    with pytest.raises(ValueError, match="'mni', 'ixi PATH'"):
        parse_data_spec("brats /x")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0).validate()
    with pytest.raises(ValueError, match="too small"):
        TrainConfig(size=16, pools=5).validate()
    assert glance_grid(TrainConfig(size=256)) == 96 and glance_grid(TrainConfig(size=128)) == 48
    assert glance_grid(TrainConfig(size=64)) == 24 and glance_grid(TrainConfig(glance_grid=32)) == 32


def test_missing_ixi_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="IXI data path not found"):
        train(tiny(tmp_path / "run", data=f"ixi {tmp_path / 'nope'}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, config: dict, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    summary = train(TrainConfig(**config))
    torch.save({"summary": dataclasses.asdict(summary)}, os.path.join(out, f"rank{rank}.pt"))


def test_ddp_with_two_gloo_processes(tmp_path):
    config = dataclasses.asdict(tiny(tmp_path / "run", epochs=1, limit=8, loss="l1"))
    mp.spawn(_ddp_worker, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    s0 = torch.load(tmp_path / "rank0.pt", weights_only=False)["summary"]
    s1 = torch.load(tmp_path / "rank1.pt", weights_only=False)["summary"]
    # both ranks averaged the same losses and validated the same (synchronised) weights
    assert s0["history"][0]["loss"] == pytest.approx(s1["history"][0]["loss"], abs=1e-6)
    assert s0["final_val_psnr"] == pytest.approx(s1["final_val_psnr"], abs=1e-5)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    # 8 slices, batch 4 per process, 2 processes -> one optimiser step per epoch
    assert ckpt["optimizer"]["state"][0]["step"].item() == 1


def test_a_run_saved_before_a_field_existed_resumes_with_its_default():
    from msglance.mri.config import config_differences

    saved = {"size": 128, "loss": "l1"}  # a config.json without local_window / diagnostics
    assert config_differences(saved, {"size": 128, "loss": "l1", "local_window": 16}) == []
    assert config_differences(saved, {"size": 128, "loss": "l1", "local_window": 7}) == [
        "local_window (checkpoint 16, now 7)"]
    assert config_differences(saved, {"size": 128, "loss": "l1", "diagnostics": 5}) == []


def test_position_weights_of_the_target_steer_the_global_draws_and_resume(tmp_path, monkeypatch):
    from msglance import glance

    left = np.zeros((64, 64))
    left[:, :32] = 1.0  # 2048 positive positions per item >= the 24x24 = 576 drawn
    spec = str(tmp_path / "left.npy")
    np.save(spec, left)
    draws = []
    real = glance.sample_positions

    def spy(target, count, delta=None, generator=None, replacement=False, position_weights=None):
        index = real(target, count, delta, generator, replacement, position_weights)
        draws.append((position_weights, index))
        return index

    monkeypatch.setattr(glance, "sample_positions", spy)
    config = tiny(tmp_path / "run", loss="l1+0.01*global", delta=None, position_weights=spec,
                  epochs=2, limit=8)
    summary = train(config)
    assert len(draws) == 2 * 2  # 8 slices, batch 4, 2 epochs: every step's global term
    for weights, index in draws:
        assert weights is not None and tuple(weights.shape) == (4, 1, 64, 64)
        assert bool((index % 64 < 32).all())  # never a zero-weight position
    assert load_config(tmp_path / "run") == config  # round trip keeps the option
    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["position_weights"] == spec

    # interrupted after one epoch and resumed: the same weights (the cache starts empty)
    train(dataclasses.replace(config, out=str(tmp_path / "part"), epochs=1))
    resumed = train(dataclasses.replace(config, out=str(tmp_path / "part")), resume=True)
    assert resumed.history[1]["loss"] == pytest.approx(summary.history[1]["loss"], abs=1e-6)
    a, b = _weights(tmp_path / "run" / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0, msg=key)
    with pytest.raises(ConfigMismatchError, match="position_weights"):
        train(dataclasses.replace(config, epochs=3, position_weights=None), resume=True)

    # uniform draws (no weights) do reach the right half
    draws.clear()
    train(dataclasses.replace(config, out=str(tmp_path / "uniform"), epochs=1,
                              position_weights=None))
    assert all(w is None for w, _ in draws) and any(bool((i % 64 >= 32).any()) for _, i in draws)


def test_position_weights_need_a_global_term_and_a_valid_source(tmp_path):
    with pytest.raises(ValueError, match="need a Global Glance term.*'l1\\+0.01\\*local'"):
        train(tiny(tmp_path / "a", loss="l1+0.01*local", position_weights="variance"))
    with pytest.raises(ValueError, match="position_weights: ltrp:.*no such checkpoint"):
        train(tiny(tmp_path / "b", position_weights=f"ltrp:{tmp_path / 'missing.pt'}"))
    with pytest.raises(ValueError, match="invalid position_weights"):
        tiny(tmp_path / "c", position_weights=" ").validate()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
