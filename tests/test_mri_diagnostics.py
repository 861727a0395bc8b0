"""Training diagnostics: per-term gradient norms and shares on the network output."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from msglance.cli import app
from msglance.losses import parse
from msglance.mri.diagnostics import StepDiagnostics, read_log, term_gradients
from msglance.mri.checkpoint import load_checkpoint
from msglance.mri.config import TrainConfig
from msglance.mri.train import train

pytestmark = pytest.mark.usefixtures("one_thread_quiet")


def test_term_gradients_of_l1_and_l2_match_their_closed_forms():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2, 1, 5, 5, generator=g, requires_grad=True)
    y = torch.rand(2, 1, 5, 5, generator=g)
    w1, w2 = 1.0, 0.3
    loss_fn = parse(f"l1 + {w2}*l2")
    loss_fn(p, y)
    values = {"l1": (p - y).abs().mean(), "l2": ((p - y) ** 2).mean()}
    got = term_gradients(values, {"l1": w1, "l2": w2}, p)
    n = p.numel()
    g1 = w1 * torch.sign(p - y).detach().double() / n  # d mean|e| / dp
    g2 = w2 * 2 * (p - y).detach().double() / n        # d mean e^2 / dp
    total = g1 + g2
    assert got["grad_l1"] == pytest.approx(float(g1.norm()), rel=1e-6)
    assert got["grad_l2"] == pytest.approx(float(g2.norm()), rel=1e-6)
    assert got["grad_total"] == pytest.approx(float(total.norm()), rel=1e-6)
    assert got["share_l1"] == pytest.approx(float((g1 * total).sum() / (total * total).sum()), rel=1e-6)
    assert got["share_l1"] + got["share_l2"] == pytest.approx(1.0)
    assert got["cos_l2"] == pytest.approx(float((g2 * total).sum() / (g2.norm() * total.norm())), rel=1e-6)
    assert got["loss_l1"] == pytest.approx(float(values["l1"]))


def test_step_diagnostics_observes_every_nth_step_and_resets():
    loss_fn = parse("l1 + 0.5*l2")
    diag = StepDiagnostics(loss_fn, every=2)
    y = torch.zeros(1, 1, 2, 2)
    for step, value in enumerate([1.0, 5.0, 3.0], start=1):  # steps 1 and 3 are observed
        p = torch.full((1, 1, 2, 2), value, requires_grad=True)
        loss_fn(p, y)
        diag.observe(p, step)
    row = diag.epoch_means()
    assert row["diag_loss_l1"] == pytest.approx((1.0 + 3.0) / 2)
    assert row["diag_loss_l2"] == pytest.approx((1.0 + 9.0) / 2)
    assert diag.epoch_means() == {}
    diag.close()
    with pytest.raises(ValueError, match="every"):
        StepDiagnostics(loss_fn, every=0)
    with pytest.raises(TypeError, match="CompositeLoss"):
        StepDiagnostics(torch.nn.L1Loss())


def test_diagnostics_do_not_change_the_trajectory_and_are_logged(tmp_path):
    base = dict(size=32, chans=2, pools=2, epochs=2, batch_size=4, lr=3e-3, limit=8,
                val_limit=2, orientations="axial", device="cpu", local_window=4,
                loss="l1+0.01*global+0.01*local")
    train(TrainConfig(out=str(tmp_path / "plain"), **base))
    train(TrainConfig(out=str(tmp_path / "diag"), diagnostics=1, **base))
    w1 = load_checkpoint(tmp_path / "plain" / "last.pt")["model"]
    w2 = load_checkpoint(tmp_path / "diag" / "last.pt")["model"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    rows = read_log(tmp_path / "diag")
    assert len(rows) == 2 and not any(k.startswith("diag_") for k in read_log(tmp_path / "plain")[0])
    for row in rows:
        shares = [row[f"diag_share_{t}"] for t in ("l1", "global", "local")]
        assert sum(shares) == pytest.approx(1.0, abs=1e-4)  # log.csv keeps 6 digits
        assert row["diag_grad_l1"] > row["diag_grad_global"] > 0
        assert row["diag_loss_l1"] == pytest.approx(row["loss_l1"], rel=1e-4)  # every step seen

    runner = CliRunner()
    res = runner.invoke(app, ["mri", "diagnostics", str(tmp_path / "diag"),
                              "--markdown", str(tmp_path / "diag.md")])
    assert res.exit_code == 0, res.output
    table = (tmp_path / "diag.md").read_text().splitlines()
    assert len(table) == 2 + 2 and "share global" in table[0]
    assert table[3].startswith("| 2 | ") and f"{rows[1]['val_psnr']:.3f} |" in table[3]
    assert (tmp_path / "diag" / "diagnostics.png").is_file()
    assert "global" in res.output and "share of update" in res.output
    res = runner.invoke(app, ["mri", "diagnostics", str(tmp_path / "plain")])
    assert res.exit_code == 2 and "no diag_" in res.output and "Traceback" not in res.output
