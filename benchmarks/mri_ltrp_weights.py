"""MRI: Global Glance sampling by the air prior vs by LTRP weights (one command, resumable).

    OMP_NUM_THREADS=1 nice -n 5 flock /tmp/msglance-heavy.lock \\
        python benchmarks/mri_ltrp_weights.py --out runs/mri_ltrp_weights \\
        --publish docs/results/mri_ltrp_weights

1. **Ranker** (``OUT/ranker``): the MNI *training* slices of the study (sagittal, coronal,
   axial; 128²; no validation or test slice) area-resized to 32², an MAE and an LTRP ranker
   trained on them with the LTRP study's sizes (``MAEConfig(image_size=32, patch=4, dim=64,
   depth=4, decoder_dim=32, decoder_depth=2)``, ``RankerConfig()``; 30 / 15 epochs, seed 0).
2. **Reproduction** (``OUT/compare/air/seed0``): the study's ``global0.01`` run (loss
   ``l1+0.01*global``, air prior δ = 0.01) re-trained with the current code and compared with
   the committed ``--reference`` run; only if its validation history and test scores agree
   are the committed seeds 1 and 2 copied in as the ``air`` arm's (otherwise they are trained).
3. **Comparison** (``OUT/compare``, :func:`msglance.mri.compare.run_grid` on the study's base
   protocol, 3 seeds, paired by seed): ``air`` (δ = 0.01), ``ltrp`` (``position_weights =
   ltrp:OUT/ranker/last.pt``, δ = none), ``uniform`` (δ = none) and ``ltrp-air`` (both);
   ``paired.md`` (vs ``air``) plus ``paired_extra.md`` (``ltrp`` vs ``uniform``,
   ``ltrp-air`` vs ``ltrp``), with :mod:`msglance.mri.paired`.
4. **Weights** (``OUT/weights.png``, ``OUT/sampling.md``): a few training slices with the
   air-prior mask and the LTRP map, and the measured share of Global Glance draws that land
   in air (target ≤ δ) under each arm.

``--long-ranker 300 150`` also trains a ranker 10× longer (``OUT/long``) and measures its maps
the same way (``OUT/long_ranker.md``, ``OUT/long_weights.png``): is a layout-only map a matter
of training length? ``--arms ... ltrp-long`` adds its comparison arm (δ = none), a secondary
arm added after the default ranker's maps were seen to be layout-only.

``--publish DIR`` copies the light files (tables, figures, per-run ``config.json``,
``summary.json``, ``log.csv``, ``eval/``) to ``DIR``. Re-running skips every finished step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from msglance.glance import AirPriorWarning, sample_positions
from msglance.mri.compare import CompareEvent, paired_rows, run_grid
from msglance.mri.config import TrainConfig, build_dataset, glance_grid_side
from msglance.mri.grid import parse_grid
from msglance.metrics import pcc
from msglance.mri.paired import paired_markdown
from msglance.mri.target_weights import TargetWeights
from msglance.ranking import RankerConfig, train_mae, train_ranker
from msglance.ranking.study import study_mae_config
from msglance.report import markdown_table, save_figure, subplots

LOSS = "l1+0.01*global"
DELTA = 0.01
#: The study's base protocol, read from its committed grid (``"base"``).
STUDY_GRID = Path(__file__).resolve().parents[1] / "docs" / "results" / "mri_study" / "grid.json"
BASE = json.loads(STUDY_GRID.read_text())["base"]
ARMS = ("air", "ltrp", "uniform", "ltrp-air")
#: Needs ``--long-ranker``; added after the default ranker's maps turned out layout-only.
SECONDARY = ("ltrp-long",)


def training_slices(indices: list[int] | None = None) -> tuple[torch.Tensor, list[str]]:
    """MNI training slices of the base protocol ``(n, 1, 128, 128)`` and their slice ids
    (``indices`` of the training split; all when ``None``)."""
    train = build_dataset(TrainConfig(**BASE), "train")
    idx = list(range(len(train))) if indices is None else indices
    images = torch.stack([train.image(i).float() for i in idx]).unsqueeze(1)
    return images, [train.slice_ids[i] for i in idx]


def training_images(size: int = 32) -> tuple[torch.Tensor, list[str]]:
    """The MNI training slices of the base protocol (128²), area-resized to ``size``²."""
    full, ids = training_slices()
    return F.interpolate(full, size=(size, size), mode="area"), ids


def train_weights_ranker(root: Path, mae_epochs: int, ranker_epochs: int) -> Path:
    """MAE + LTRP ranker on the training slices; returns the ranker checkpoint."""
    images, _ = training_images()
    common = dict(batch_size=64, lr=1e-3, mask_ratio=0.75, seed=0, device="cpu", resume=True)
    t0 = time.perf_counter()
    mae = train_mae(images, study_mae_config(1), epochs=mae_epochs, out=root / "mae", **common)
    ranker = train_ranker(mae.model, images, RankerConfig(channels=1), epochs=ranker_epochs,
                          out=root / "ranker", **common)
    info = {"images": len(images), "image_size": 32, "mae_epochs": mae_epochs,
            "ranker_epochs": ranker_epochs, "mae_final_loss": mae.history[-1]["loss"],
            "ranker_final_loss": ranker.history[-1]["loss"],
            "mae_seconds": sum(r["seconds"] for r in mae.history),
            "ranker_seconds": sum(r["seconds"] for r in ranker.history),
            "seconds_this_call": time.perf_counter() - t0}
    (root / "ranker_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"ranker: {info}")
    return root / "ranker" / "last.pt"


def grid_data(ckpt: Path, arms: list[str], seeds: list[int], long_ckpt: Path | None = None
              ) -> dict:
    """The comparison grid (a :mod:`msglance.mri.grid` object), ``air`` the baseline."""
    spec = f"ltrp:{ckpt}"
    every = {
        "ltrp-long": {"name": "ltrp-long", "loss": LOSS, "delta": None,
                      "position_weights": f"ltrp:{long_ckpt}",
                      "note": "secondary: the --long-ranker ranker"},
        "air": {"name": "air", "loss": LOSS, "note": "= the study's global0.01"},
        "ltrp": {"name": "ltrp", "loss": LOSS, "delta": None, "position_weights": spec},
        "uniform": {"name": "uniform", "loss": LOSS, "delta": None},
        "ltrp-air": {"name": "ltrp-air", "loss": LOSS, "position_weights": spec},
    }
    return {"study": "MRI Global Glance sampling: air prior vs LTRP weights", "seeds": seeds,
            "splits": ["test", "s1045"], "baseline": "air", "base": BASE,
            "configs": [every[a] for a in ["air", *[a for a in arms if a != "air"]]]}


def _same(a: float, b: float, tol: float) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=tol)


def check_reproduction(run: Path, reference: Path) -> dict:
    """Compare a re-trained run with the committed one (history and test/s1045 scores)."""
    new, old = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    new_eval, old_eval = (json.loads((d / "eval" / "summary.json").read_text())
                          for d in (run, reference))
    diffs = []
    for key in ("loss", "loss_l1", "loss_global", "val_psnr", "val_ssim"):
        worst = max(abs(a[key] - b[key]) for a, b in zip(new["history"], old["history"]))
        if not _same(worst, 0.0, 1e-6 if key.startswith("loss") else 1e-4):
            diffs.append(f"history {key}: max |diff| {worst:.3g}")
    for split in ("test", "s1045"):
        for metric in ("psnr", "ssim"):
            a, b = new_eval[split]["recon"][metric], old_eval[split]["recon"][metric]
            if not _same(a, b, 1e-4):
                diffs.append(f"{split} {metric}: {a:.6f} vs {b:.6f}")
    if new["best_epoch"] != old["best_epoch"]:
        diffs.append(f"best epoch {new['best_epoch']} vs {old['best_epoch']}")
    return {"reproduced": not diffs, "differences": diffs, "run": str(run),
            "reference": str(reference), "best_epoch": new["best_epoch"],
            "test_psnr": [new_eval["test"]["recon"]["psnr"], old_eval["test"]["recon"]["psnr"]],
            "test_ssim": [new_eval["test"]["recon"]["ssim"], old_eval["test"]["recon"]["ssim"]],
            "seconds": new["seconds"]}


def _copy_run(src: Path, dst: Path) -> None:
    """The light files of a run (what the study commits)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "summary.json", "log.csv", "failed.json"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    if (src / "eval").is_dir():
        shutil.copytree(src / "eval", dst / "eval", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.png"))


def sampling_table(ckpt: Path, slices: int = 24, draws: int = 10) -> tuple[str, dict]:
    """Share of Global Glance positions drawn in air (target <= delta) per arm, measured."""
    config = TrainConfig(**BASE)
    count = len(build_dataset(config, "train"))
    step = max(1, count // slices)
    idx = list(range(0, count, step))[:slices]
    targets, ids = training_slices(idx)
    weights = TargetWeights(f"ltrp:{ckpt}")(targets, ids)
    n = glance_grid_side(config)
    air = (targets <= DELTA).flatten(1)
    arms = {"air": (DELTA, None), "ltrp": (None, weights), "uniform": (None, None),
            "ltrp-air": (DELTA, weights)}
    rows, shares = [], {}
    for name, (delta, w) in arms.items():
        gen = torch.Generator().manual_seed(0)
        vals = []
        for _ in range(draws):
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", AirPriorWarning)  # slices with little tissue
                pos = sample_positions(targets, n * n, delta, gen, position_weights=w)
            vals.append(air.gather(1, pos).double().mean(dim=1))
        share = torch.stack(vals).mean(dim=0)
        shares[name] = float(share.mean())
        rows.append([f"`{name}`", "none" if delta is None else f"{delta:g}",
                     "LTRP" if w is not None else "uniform",
                     f"{100 * float(share.mean()):.1f} %",
                     f"{100 * float(share.min()):.1f}–{100 * float(share.max()):.1f} %"])
    layout = _layout_statistics(weights, targets)
    shares.update(layout)
    text = (f"{len(idx)} training slices (every {step}th), {draws} draws each of {n}×{n} = "
            f"{n * n} positions out of {targets[0, 0].numel()}; air = target ≤ {DELTA:g} "
            f"({100 * float(air.double().mean()):.1f} % of these slices' pixels).\n\n"
            + markdown_table(["arm", "δ", "weights", "share of draws in air (mean)",
                              "range over slices"], rows) + "\n\n"
            + "How much the LTRP map depends on the slice (per slice, over its 8 × 8 ranker "
            "patches; mean [min, max] over the slices): Pearson correlation with the mean map "
            f"of all {len(idx)} slices {_fmt(layout, 'corr_with_mean_map')}; with the slice's own "
            f"tissue fraction per patch {_fmt(layout, 'corr_with_tissue')}. Ranker scores "
            f"(centred per slice): std across slices {layout['score_std_across_slices']:.4f}, "
            f"across patches {layout['score_std_across_patches']:.3f}; effective number of "
            f"patches 1/Σp² = {layout['effective_patches']:.1f} of {w_patches(weights)}.\n")
    return text, shares


def w_patches(weights: torch.Tensor, patch: int = 16) -> int:
    """Number of ranker patches of a weight map (16×16 pixels each at 128²)."""
    return (weights.shape[-2] // patch) * (weights.shape[-1] // patch)


def _fmt(stats: dict, key: str) -> str:
    return f"{stats[key]:+.3f} [{stats[key + '_min']:+.3f}, {stats[key + '_max']:+.3f}]"


def _layout_statistics(weights: torch.Tensor, targets: torch.Tensor, patch: int = 16) -> dict:
    """Per-slice correlations of the patch weights with the mean map and with tissue."""
    w = F.avg_pool2d(weights, patch).flatten(1).double()
    tissue = F.avg_pool2d((targets > DELTA).float(), patch).flatten(1).double()
    mean_map = w.mean(dim=0, keepdim=True).expand_as(w)

    def corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # per slice, over its patches
        return pcc(a[:, None, None], b[:, None, None], reduction="none")

    scores = w.log() - w.log().mean(dim=1, keepdim=True)  # the ranker's s, up to a shift
    out = {"score_std_across_slices": float(scores.std(dim=0).mean()),
           "score_std_across_patches": float(scores.std(dim=1).mean()),
           "effective_patches": float((1 / (w / w.sum(1, keepdim=True)).square().sum(1)).mean())}
    for key, value in (("corr_with_mean_map", corr(w, mean_map)),
                       ("corr_with_tissue", corr(w, tissue))):
        out.update({key: float(value.mean()), f"{key}_min": float(value.min()),
                    f"{key}_max": float(value.max())})
    return out


def weights_figure(ckpt: Path, path: Path, count: int = 4) -> Path:
    """Training slices, their air-prior mask (target > δ) and their LTRP weight maps."""
    _, ids = training_slices()
    pick = []
    for orientation in ("sagittal", "coronal", "axial"):
        own = [i for i, s in enumerate(ids) if s.split("/")[1] == orientation]
        pick.append(own[len(own) // 2])
    pick.append(next(i for i, s in enumerate(ids) if s.split("/")[1] == "axial"))
    pick = pick[:count]
    targets, _ = training_slices(pick)
    weights = TargetWeights(f"ltrp:{ckpt}")(targets)
    fig, axes = subplots(3, len(pick), figsize=(2.4 * len(pick), 7.4), squeeze=False)
    for c, i in enumerate(pick):
        y, w = targets[c, 0].numpy(), weights[c, 0].numpy()
        axes[0, c].imshow(y, cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(ids[i], fontsize=8)
        axes[1, c].imshow(y > DELTA, cmap="gray", vmin=0, vmax=1)
        axes[1, c].set_title(f"air prior: target > {DELTA:g}", fontsize=8)
        shown = axes[2, c].imshow(w / w.max(), cmap="magma", vmin=0, vmax=1)
        axes[2, c].contour(y > DELTA, levels=[0.5], colors="cyan", linewidths=0.5)
        axes[2, c].set_title("LTRP weights (max 1)", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=list(axes[2]), fraction=0.02, pad=0.01)
    return save_figure(fig, path, dpi=90)


def _show(event: CompareEvent) -> None:
    if event.kind in ("run", "done", "failed"):
        state = " (already done)" if event.skipped else f" {event.error}" if event.error else ""
        print(f"{time.strftime('%H:%M:%S')} {event.kind}: {event.loss} seed {event.seed} "
              f"[{event.index}/{event.total}]{state}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/mri_ltrp_weights"))
    parser.add_argument("--reference", type=Path,
                        default=Path("docs/results/mri_study/runs/global0.01"),
                        help="the committed global0.01 runs (seed0, seed1, seed2)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS + SECONDARY)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mae-epochs", type=int, default=30)
    parser.add_argument("--ranker-epochs", type=int, default=15)
    parser.add_argument("--long-ranker", type=int, nargs=2, metavar=("MAE", "RANKER"),
                        default=None, help="also train a ranker for these many epochs "
                        "(OUT/long) and measure its maps only (OUT/long_ranker.md; no runs)")
    parser.add_argument("--publish", type=Path, default=None,
                        help="copy tables, figures and the per-run light files here")
    args = parser.parse_args()
    root = args.out
    root.mkdir(parents=True, exist_ok=True)
    ckpt = train_weights_ranker(root, args.mae_epochs, args.ranker_epochs)
    long_ckpt = None
    if args.long_ranker is not None:
        long_ckpt = train_weights_ranker(root / "long", *args.long_ranker)
    elif "ltrp-long" in args.arms:
        parser.error("the arm ltrp-long needs --long-ranker MAE RANKER")

    compare_dir = root / "compare"
    repro_path = root / "reproduction.json"
    if 0 in args.seeds and (args.reference / "seed0").is_dir():
        air_only = parse_grid(grid_data(ckpt, ["air"], [0]), "air seed 0")
        run_grid(air_only, compare_dir)
        repro = check_reproduction(compare_dir / "air" / "seed0", args.reference / "seed0")
        repro_path.write_text(json.dumps(repro, indent=2) + "\n")
        print(f"reproduction of {args.reference}/seed0: {repro}")
        if repro["reproduced"]:
            for seed in args.seeds:
                dst = compare_dir / "air" / f"seed{seed}"
                if seed != 0 and not (dst / "eval" / "summary.json").is_file():
                    _copy_run(args.reference / f"seed{seed}", dst)

    data = grid_data(ckpt, args.arms, args.seeds, long_ckpt)
    (root / "grid.json").write_text(json.dumps(data, indent=2) + "\n")
    grid = parse_grid(data, str(root / "grid.json"))
    t0 = time.perf_counter()
    payload = run_grid(grid, compare_dir, progress=_show)
    print(f"comparison: {time.perf_counter() - t0:.0f} s this call")

    # LTRP vs no prior; the air prior on top of LTRP; the longer-trained ranker vs both
    extra = {"ltrp": "uniform", "ltrp-air": "ltrp", "ltrp-long": "uniform"}
    variant = dataclasses.replace(grid, entries=[
        dataclasses.replace(e, baseline=extra[e.name]) for e in grid.entries if e.name in extra])
    rows = paired_rows(payload["runs"], variant)
    (compare_dir / "paired_extra.md").write_text(paired_markdown(rows, list(grid.splits)))
    print((compare_dir / "paired.md").read_text())
    print((compare_dir / "paired_extra.md").read_text())

    text, shares = sampling_table(ckpt)
    (root / "sampling.md").write_text(text)
    (root / "sampling.json").write_text(json.dumps(shares, indent=2) + "\n")
    print(text)
    weights_figure(ckpt, root / "weights.png")
    if long_ckpt is not None:
        text, shares = sampling_table(long_ckpt)
        (root / "long_ranker.md").write_text(
            f"Ranker trained {args.long_ranker[0]} (MAE) / {args.long_ranker[1]} (ranker) "
            f"epochs (`{long_ckpt}`):\n\n{text}")
        (root / "long_ranker.json").write_text(json.dumps(shares, indent=2) + "\n")
        weights_figure(long_ckpt, root / "long_weights.png")
        print(text)

    if args.publish is not None:
        pub = args.publish
        pub.mkdir(parents=True, exist_ok=True)
        for name in ("grid.json", "reproduction.json", "ranker_info.json", "sampling.md",
                     "sampling.json", "weights.png", "long_ranker.md", "long_ranker.json",
                     "long_weights.png", "long/ranker_info.json"):
            if (root / name).is_file():
                (pub / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, pub / name)
        for name in ("table.md", "paired.md", "paired_extra.md", "results.json",
                     "forest.png", "curves.png", "comparison.png"):
            if (compare_dir / name).is_file():
                shutil.copy2(compare_dir / name, pub / name)
        for run in payload["runs"]:
            src = Path(run["dir"])
            _copy_run(src, pub / "runs" / src.parent.name / src.name)
        print(f"published to {pub}")


if __name__ == "__main__":
    main()
