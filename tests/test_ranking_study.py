"""The LTRP study on toy sizes: every evaluation writes rows, resume skips, the report renders."""

from __future__ import annotations

import doctest

import pytest
import torch

import msglance.ranking.figures as figures_module
import msglance.ranking.study as study_module
import msglance.ranking.study_report as report_module
from msglance.ranking.study import StudyConfig, classifier_macs, ndcg_at_k, read_rows, run_study
from msglance.ranking.study_report import write_report


def test_doctests():
    for module in (study_module, report_module, figures_module):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def test_ndcg_and_macs():
    y = torch.tensor([[0.0, 1.0, 3.0, 2.0]])
    assert float(ndcg_at_k(y, y, 2)) == pytest.approx(1.0)
    # scores pick items 0, 1 (gains 0, 1) while the best two are 3 and 2
    got = float(ndcg_at_k(torch.tensor([[4.0, 3.0, 1.0, 2.0]]), y, 2))
    assert got == pytest.approx((0 + 1 / torch.log2(torch.tensor(3.0)).item()) / (3 + 2 / 1.5849625), rel=1e-4)
    from msglance.ranking.classifier import ClassifierConfig

    c = ClassifierConfig(dim=8, depth=1, mlp_ratio=2.0, patch=2, channels=1)
    # T = 2 tokens: embed 2*4*8, block 3*(4*64 + 2*8*16) + 2*9*8, head 8*10
    assert classifier_macs(2, c, 10) == 2 * 4 * 8 + 3 * (256 + 256) + 2 * 9 * 8 + 80


def test_tiny_study_runs_every_evaluation_resumes_and_reports(tmp_path):
    torch.set_num_threads(1)
    cfg = StudyConfig(out=str(tmp_path / "s"), datasets=("digits",), seeds=1, keeps=(0.25,),
                      headline_keep=0.25, selectors=("ltrp", "random", "energy", "supervised_attention"),
                      mae_epochs=1, ranker_epochs=1, classifier_epochs=1, batch_size=64,
                      eval_images=4, train_limit=64, device="cpu")
    path = run_study(cfg)
    rows = read_rows(tmp_path / "s")
    evals = {r["evaluation"] for r in rows}
    assert evals == {"A", "B", "CD", "E"}
    d = {(r["selector"], r["metric"]) for r in rows if r["evaluation"] == "CD"}
    for m in ("ltrp", "random", "energy", "supervised_attention"):
        assert {(m, "acc_seen"), (m, "acc_unseen"), (m, "acc_all"), (m, "logreg_acc_all")} <= d
    assert ("all", "acc_all") in d
    assert all(0 <= r["value"] <= 100 for r in rows if r["metric"].startswith(("acc", "logreg")))
    before = path.read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        run_study(cfg)
    run_study(cfg, resume=True)  # everything done: nothing re-run, nothing appended
    assert path.read_text() == before
    bigger = StudyConfig(**{**cfg.__dict__, "mask_ratio": 0.5})
    with pytest.raises(ValueError, match="mask_ratio"):
        run_study(bigger, resume=True)
    text = write_report(tmp_path / "s")
    assert "### D. Seen vs unseen" in text and "| ltrp |" in text
    assert "### A." in text and "### B." in text and "### E." in text
    assert (tmp_path / "s" / "seen_unseen.png").is_file()


def test_selection_figure(tmp_path):
    from msglance.ranking.figures import plot_selections

    x = torch.rand(2, 1, 8, 8)
    ids = {"a": torch.tensor([[0, 1], [2, 3]]), "b": torch.tensor([[1, 2], [0, 3]])}
    path = plot_selections(tmp_path / "sel.png", x, ids, (2, 2), 4, ["one", "two"])
    assert path.is_file() and path.stat().st_size > 1000
