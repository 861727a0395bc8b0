"""The LTRP study: does a selector that never saw labels keep what matters for unseen classes?

``run_study(StudyConfig(...))`` trains, per data set and seed, the selector side — a masked
autoencoder (the labeller), a second MAE with another seed (the judge of B), the LTRP ranker
and, where labels exist, the supervised classifier behind ``supervised_attention`` and
``gradient_saliency`` — and then runs the evaluations, appending one CSV row per measured
value to ``OUT/per_run.csv`` as each unit finishes (``resume=True`` skips finished units and
reuses finished models, whose checkpoints live under ``OUT/models``).

=====  =========================================================================================
eval   what is measured (all selectors at the same ``k = round(keep · L)``)
=====  =========================================================================================
A      ranking fidelity on held-out images with fresh masks: Spearman ρ, Kendall τ and NDCG@k
       of the ranker's scores at the visible positions vs the MAE's pseudo-scores (a random
       scorer is the reference); a fidelity check, not a usefulness claim
B      reconstruction of the dropped patches from the kept ones, MSE on the dropped pixels, by
       the *judge* MAE (trained with another seed) and by ``skimage.restoration.
       inpaint_biharmonic`` (not learned), on held-out images
C      classification from the kept tokens: a :class:`~msglance.ranking.classifier.
       TokenClassifier` trained and tested on each selector's kept tokens (the paper's
       protocol) plus a logistic regression on the kept patch means (a cheap cross-check)
D      the "unbiased" test on digits: every selector's model (MAE, ranker, supervised
       classifier) is trained on the training images of the **seen** classes 0–4 only; the
       downstream classifier is trained on all ten classes; accuracy is reported separately
       on seen and unseen (5–9) test digits
E      token sparsification: a ViT on the kept tokens only — tokens, analytic MACs (with the
       ranker's own cost for LTRP), measured throughput at ``k`` vs all tokens, accuracy
=====  =========================================================================================

On digits, C and D share their runs (C reports the 10-way accuracy of the same classifiers).
Data sets: ``digits`` (A–E), ``lfw`` face/non-face (A, C; ``effnet_saliency`` included),
``natural`` crops (A, B; no labels, so no supervised-classifier selectors).
"""

from __future__ import annotations

import csv
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msglance.ranking.classifier import ClassifierConfig, TokenClassifier
from msglance.ranking.datasets import PatchData, load_split
from msglance.ranking.mae import MAEConfig, MaskedAutoencoder
from msglance.ranking.patches import patchify
from msglance.ranking.pseudo_labels import pseudo_scores
from msglance.ranking.ranker import PatchRanker, RankerConfig
from msglance.ranking.selectors import METHODS, select
from msglance.ranking.training import train_classifier, train_mae, train_ranker

__all__ = [
    "EVALUATIONS",
    "StudyConfig",
    "StudyEvent",
    "classifier_macs",
    "ndcg_at_k",
    "read_rows",
    "study_mae_config",
    "run_study",
    "study_selectors",
    "summarize_rows",
]

EVALUATIONS: tuple[str, ...] = ("A", "B", "C", "D", "E")
_EVALS_BY_DATA = {"digits": "ABCDE", "lfw": "AC", "natural": "AB"}
_COLUMNS = ["evaluation", "dataset", "selector", "keep", "seed", "metric", "value"]


@dataclass
class StudyConfig:
    """Everything that defines a study run (saved in ``OUT/config.json``)."""

    out: str = "ltrp-study"
    datasets: tuple[str, ...] = ("digits", "lfw", "natural")
    evaluations: tuple[str, ...] = EVALUATIONS
    seeds: int = 3
    keeps: tuple[float, ...] = (0.125, 0.25, 0.5)
    headline_keep: float = 0.125
    seen_classes: int = 5
    selectors: tuple[str, ...] = METHODS
    mae_epochs: int = 30
    ranker_epochs: int = 15
    classifier_epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    mask_ratio: float = 0.75
    eval_images: int = 128
    #: use at most this many (evenly spaced) training images per data set; 0 = all
    train_limit: int = 0
    device: str = "auto"

    def validate(self) -> None:
        """One-line ``ValueError`` naming the first bad field."""
        bad = [d for d in self.datasets if d not in _EVALS_BY_DATA]
        if bad:
            raise ValueError(f"datasets must be among {', '.join(_EVALS_BY_DATA)}, got {bad}")
        bad = [e for e in self.evaluations if e not in EVALUATIONS]
        if bad:
            raise ValueError(f"evaluations must be among {', '.join(EVALUATIONS)}, got {bad}")
        bad = [s for s in self.selectors if s not in METHODS]
        if bad:
            raise ValueError(f"unknown selectors {bad}; choose among {', '.join(METHODS)}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if not all(0 < k <= 1 for k in (*self.keeps, self.headline_keep)):
            raise ValueError("keep ratios must be in (0, 1]")
        for name in ("mae_epochs", "ranker_epochs", "classifier_epochs", "batch_size", "eval_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.train_limit < 0:
            raise ValueError(f"train_limit must be >= 0, got {self.train_limit}")


@dataclass
class StudyEvent:
    """Progress: ``kind`` is ``"stage"`` (``message`` says what starts), ``"unit"`` (a unit of
    ``total`` finished, ``done`` so far), ``"skip"`` (a unit already in the CSV)."""

    kind: str
    message: str = ""
    done: int = 0
    total: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def study_selectors(dataset: str, selectors: tuple[str, ...]) -> list[str]:
    """The selectors that apply to a data set (no labels: no classifier-based selectors;
    ``effnet_saliency`` only on natural images and LFW, as in the issue's protocol).

    Examples:
        >>> study_selectors("natural", ("ltrp", "supervised_attention", "effnet_saliency"))
        ['ltrp', 'effnet_saliency']
    """
    out = []
    for m in selectors:
        if dataset == "natural" and m in ("supervised_attention", "gradient_saliency"):
            continue
        if dataset == "digits" and m == "effnet_saliency":
            continue
        out.append(m)
    return out


def ndcg_at_k(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """NDCG@k per row: gains are the (non-negative) labels, the order is by ``scores``.

    ``DCG@k = Σ_{i<k} g_{π_i} / log2(i + 2)``, divided by the DCG of the label order.

    Examples:
        >>> y = torch.tensor([[3.0, 2.0, 1.0]])
        >>> float(ndcg_at_k(y, y, 2)), float(ndcg_at_k(-y, y, 3)) < 1
        (1.0, True)
    """
    gains = labels.clamp(min=0)
    disc = 1.0 / torch.log2(torch.arange(k, dtype=gains.dtype) + 2.0)
    dcg = (gains.gather(1, scores.argsort(1, descending=True)[:, :k]) * disc).sum(1)
    ideal = (gains.sort(1, descending=True).values[:, :k] * disc).sum(1)
    return dcg / ideal.clamp(min=1e-12)


def classifier_macs(tokens: int, config: ClassifierConfig | RankerConfig, outputs: int) -> int:
    """Multiply-accumulates of one image through a ViT of ``config`` on ``tokens`` patches:
    embedding ``T·P²C·d``, per block ``T'·(4d² + 2·r·d²) + 2·T'²·d`` with ``T' = T + 1`` (CLS),
    head ``d·outputs``.

    Examples:
        >>> classifier_macs(8, ClassifierConfig(dim=64, depth=3), 10) < classifier_macs(64, ClassifierConfig(dim=64, depth=3), 10)
        True
    """
    d, t1 = config.dim, tokens + 1
    mlp = int(config.mlp_ratio * d)
    per_block = t1 * (4 * d * d + 2 * d * mlp) + 2 * t1 * t1 * d
    return tokens * config.patch**2 * config.channels * d + config.depth * per_block + d * outputs


# --------------------------------------------------------------------------- CSV


def read_rows(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of ``OUT/per_run.csv`` (``keep`` and ``value`` as floats, ``seed`` as int)."""
    path = Path(out) / "per_run.csv"
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            row["keep"], row["value"], row["seed"] = float(row["keep"]), float(row["value"]), int(row["seed"])
            rows.append(row)
    return rows


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in _COLUMNS})
        fh.flush()
        os.fsync(fh.fileno())


# --------------------------------------------------------------------------- models


@dataclass
class _Side:
    """The selector side of one (data set, seed): models trained without test data."""

    mae: MaskedAutoencoder
    judge: MaskedAutoencoder | None
    ranker: PatchRanker
    classifier: TokenClassifier | None


def study_mae_config(channels: int) -> MAEConfig:
    """The MAE sizes of the study (labeller and judge): 32×32 images, 4×4 patches (L = 64),
    encoder 64 wide × 4 blocks, decoder 32 × 2.

    Examples:
        >>> study_mae_config(3).channels, study_mae_config(1).patch
        (3, 4)
    """
    return MAEConfig(image_size=32, patch=4, channels=channels, dim=64, depth=4, decoder_dim=32,
                     decoder_depth=2)


def _train_side(cfg: StudyConfig, data: PatchData, labels: torch.Tensor | None, seed: int,
                root: Path, emit: Callable[[StudyEvent], None]) -> _Side:
    c = data.images.shape[1]
    common = dict(batch_size=cfg.batch_size, lr=cfg.lr, device=cfg.device, resume=True)
    emit(StudyEvent("stage", f"seed {seed}: MAE"))
    mae = train_mae(data.images, study_mae_config(c), epochs=cfg.mae_epochs, mask_ratio=cfg.mask_ratio,
                    seed=seed, out=root / "mae", **common).model
    judge = None
    if "B" in cfg.evaluations:  # only B needs the second MAE
        emit(StudyEvent("stage", f"seed {seed}: judge MAE"))
        judge = train_mae(data.images, study_mae_config(c), epochs=cfg.mae_epochs,
                          mask_ratio=cfg.mask_ratio, seed=seed + 1000, out=root / "judge_mae",
                          **common).model
    emit(StudyEvent("stage", f"seed {seed}: ranker"))
    ranker = train_ranker(mae, data.images, RankerConfig(channels=c), epochs=cfg.ranker_epochs,
                          mask_ratio=cfg.mask_ratio, seed=seed, out=root / "ranker", **common).model
    clf = None
    if labels is not None:
        emit(StudyEvent("stage", f"seed {seed}: supervised classifier"))
        clf = train_classifier(data.images, labels, None,
                               ClassifierConfig(channels=c, classes=int(labels.max()) + 1),
                               epochs=cfg.classifier_epochs, seed=seed, out=root / "supervised",
                               **common).model
    for m in (mae, judge, ranker, clf):
        if m is not None:
            m.cpu().eval()
    return _Side(mae, judge, ranker, clf)


def _select(images, k, method, side: _Side, seed: int) -> torch.Tensor:
    if method == "all":
        return torch.arange(side.ranker.length).expand(len(images), -1).contiguous()
    out = []
    for start in range(0, len(images), 256):
        out.append(select(images[start : start + 256], k, method, ranker=side.ranker,
                          classifier=side.classifier, seed=seed))
    return torch.cat(out)


# --------------------------------------------------------------------------- evaluations


def _eval_a(side: _Side, test: PatchData, cfg: StudyConfig, seed: int) -> list[tuple[str, str, float]]:
    from scipy.stats import kendalltau, spearmanr

    x = test.images[: cfg.eval_images]
    g = torch.Generator().manual_seed(7919 + seed)
    ps = pseudo_scores(side.mae, x, cfg.mask_ratio, generator=g)
    pred = side.ranker.rank(x).gather(1, ps.ids_keep)
    rand = torch.rand(pred.shape, generator=g)
    k = max(1, round(cfg.headline_keep * side.ranker.length))
    k = min(k, pred.shape[1])
    rows = []
    for name, s in (("ltrp", pred), ("random", rand)):
        sp = [spearmanr(a, b).statistic for a, b in zip(s.numpy(), ps.scores.numpy())]
        kt = [kendalltau(a, b).statistic for a, b in zip(s.numpy(), ps.scores.numpy())]
        rows += [(name, "spearman", float(np.nanmean(sp))), (name, "kendall", float(np.nanmean(kt))),
                 (name, f"ndcg@{k}", float(ndcg_at_k(s, ps.scores, k).mean()))]
    return rows


def _eval_b(side: _Side, test: PatchData, method: str, keep: float, seed: int,
            cfg: StudyConfig) -> list[tuple[str, float]]:
    from skimage.restoration import inpaint_biharmonic

    x = test.images[: cfg.eval_images]
    length, patch = side.ranker.length, side.ranker.patch
    k = max(1, round(keep * length))
    ids = _select(x, k, method, side, seed)
    patches = patchify(x, patch)
    dropped = torch.ones(len(x), length, dtype=torch.bool)
    dropped.scatter_(1, ids, False)
    with torch.no_grad():
        recon = side.judge.reconstruct(patches, ids)
    err = (recon - patches).square().mean(-1)
    mae_mse = float(((err * dropped).sum(1) / dropped.sum(1).clamp(min=1)).mean())
    from msglance.ranking.figures import kept_mask

    hole = 1.0 - kept_mask(ids, side.ranker.grid, patch)
    errs = []
    for img, m in zip(x, hole):
        a = img.numpy().transpose(1, 2, 0)
        mm = m[0].numpy().astype(bool)
        if not mm.any():
            errs.append(0.0)
            continue
        filled = inpaint_biharmonic(a, mm, channel_axis=-1)
        errs.append(float(((filled - a) ** 2).mean(-1)[mm].mean()))
    return [("judge_mae_mse", mae_mse), ("biharmonic_mse", float(np.mean(errs)))]


def _logistic(train_x, train_y, test_x) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000)
    model.fit(train_x, train_y)
    return model.predict(test_x)


def _eval_c(side: _Side, train: PatchData, test: PatchData, method: str, keep: float, seed: int,
            cfg: StudyConfig, seen: int | None) -> list[tuple[str, float]]:
    length, patch = side.ranker.length, side.ranker.patch
    k = length if method == "all" else max(1, round(keep * length))
    ids_tr = _select(train.images, k, method, side, seed)
    ids_te = _select(test.images, k, method, side, seed)
    c = train.images.shape[1]
    classes = int(train.labels.max()) + 1
    clf = train_classifier(train.images, train.labels, ids_tr,
                           ClassifierConfig(channels=c, classes=classes),
                           epochs=cfg.classifier_epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                           seed=seed, device=cfg.device).model.cpu()
    with torch.no_grad():
        pred = torch.cat([clf(test.images[i : i + 256], ids_te[i : i + 256]).argmax(1)
                          for i in range(0, len(test), 256)])

    def feats(data: PatchData, ids: torch.Tensor) -> np.ndarray:
        means = patchify(data.images, patch).mean(-1)
        keep_mask = torch.zeros_like(means).scatter_(1, ids, 1.0)
        return (means * keep_mask).numpy()

    lr_pred = torch.from_numpy(_logistic(feats(train, ids_tr), train.labels.numpy(), feats(test, ids_te)))
    y = test.labels
    rows = []
    groups = {"all": torch.ones_like(y, dtype=torch.bool)}
    if seen is not None:
        groups.update(seen=y < seen, unseen=y >= seen)
    for name, sel in groups.items():
        rows.append((f"acc_{name}", 100.0 * float((pred[sel] == y[sel]).float().mean())))
        rows.append((f"logreg_acc_{name}", 100.0 * float((lr_pred[sel] == y[sel]).float().mean())))
    return rows


def _throughput(fn: Callable[[], Any], images: int, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return images / sorted(times)[len(times) // 2]


def _eval_e(side: _Side, test: PatchData, keep: float, seed: int) -> list[tuple[str, float]]:
    length = side.ranker.length
    k = max(1, round(keep * length))
    cc = ClassifierConfig(channels=test.images.shape[1], classes=int(test.labels.max()) + 1)
    torch.manual_seed(seed)
    clf = TokenClassifier(cc).eval()  # speed does not depend on the weights; accuracy comes from C
    x = test.images[:256]
    ids = select(x, k, "ltrp", ranker=side.ranker)
    with torch.no_grad():
        sparse = _throughput(lambda: clf(x, ids), len(x))
        dense = _throughput(lambda: clf(x), len(x))
        pipeline = _throughput(lambda: clf(x, select(x, k, "ltrp", ranker=side.ranker)), len(x))
    return [
        ("tokens", float(k)),
        ("macs_classifier", float(classifier_macs(k, cc, cc.classes))),
        ("macs_classifier_all_tokens", float(classifier_macs(length, cc, cc.classes))),
        ("macs_ranker", float(classifier_macs(length, side.ranker.config, length))),
        ("images_per_s_kept_tokens", sparse),
        ("images_per_s_all_tokens", dense),
        ("images_per_s_with_ranker", pipeline),
    ]


# --------------------------------------------------------------------------- driver


def run_study(
    config: StudyConfig,
    *,
    resume: bool = False,
    progress: Callable[[StudyEvent], None] | None = None,
) -> Path:
    """Run the study of ``config`` and return ``OUT/per_run.csv`` (see the module docstring).

    Raises:
        FileExistsError: ``OUT/per_run.csv`` exists and ``resume`` is false.
        ValueError: a bad config, or ``resume`` with a config that differs from the saved one.
    """
    import json

    from msglance.atomic import atomic_write_text

    config.validate()
    out = Path(config.out)
    csv_path = out / "per_run.csv"
    cfg_path = out / "config.json"
    saved_keys = {k: v for k, v in asdict(config).items() if k not in ("out", "device")}
    saved_json = json.loads(json.dumps(saved_keys))
    if csv_path.is_file() and not resume:
        raise FileExistsError(f"{out} already holds a study (per_run.csv); pass --resume to "
                              "continue it or choose another output folder")
    if resume and cfg_path.is_file():
        old = json.loads(cfg_path.read_text())
        diffs = [k for k in sorted(old)  # keys of older versions only
                 if k not in ("seeds", "evaluations", "datasets", "selectors")
                 and old[k] != saved_json.get(k)]
        if diffs:
            raise ValueError(f"cannot resume {out}: the study config differs in {', '.join(diffs)}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg_path, json.dumps(saved_json, indent=1) + "\n")
    done = {(r["evaluation"], r["dataset"], r["selector"], r["keep"], r["seed"]) for r in read_rows(out)}

    def emit(ev: StudyEvent) -> None:
        if progress is not None:
            progress(ev)

    units = _plan(config)
    total = len(units)
    count = 0
    sides: dict[tuple[str, int], _Side] = {}
    splits: dict[str, tuple[PatchData, PatchData]] = {}
    for ev, ds, method, keep, seed in units:
        key = (ev, ds, method, float(keep), seed)
        count += 1
        if key in done:
            emit(StudyEvent("skip", f"{ev} {ds} {method} {keep:g} seed {seed}", count, total))
            continue
        if ds not in splits:
            tr, te = load_split(ds, 32, 0)
            if config.train_limit:  # evenly spaced, so every class stays in
                tr = tr.subset(torch.linspace(0, len(tr) - 1, min(config.train_limit, len(tr))).long())
            splits[ds] = (tr, te)
        train, test = splits[ds]
        if (ds, seed) not in sides:
            side_data, side_labels = train, train.labels
            if ds == "digits" and side_labels is not None:
                side_data = train.subset(train.labels < config.seen_classes)
                side_labels = side_data.labels
            sides[(ds, seed)] = _train_side(config, side_data, side_labels, seed,
                                           out / "models" / ds / f"seed{seed}", emit)
        side = sides[(ds, seed)]
        emit(StudyEvent("stage", f"{ev} {ds} {method} keep {keep:g} seed {seed}"))
        if ev == "A":
            values = [(f"{m}:{name}", v) for m, name, v in _eval_a(side, test, config, seed)]
        elif ev == "B":
            values = _eval_b(side, test, method, keep, seed, config)
        elif ev == "CD":
            seen = config.seen_classes if ds == "digits" else None
            values = _eval_c(side, train, test, method, keep, seed, config, seen)
        else:
            values = _eval_e(side, test, keep, seed)
        rows = [dict(evaluation=ev, dataset=ds, selector=method, keep=float(keep), seed=seed,
                     metric=metric, value=float(value)) for metric, value in values]
        _append(csv_path, rows)
        emit(StudyEvent("unit", f"{ev} {ds} {method} {keep:g} seed {seed}", count, total, rows))
    return csv_path


def _plan(cfg: StudyConfig) -> list[tuple[str, str, str, float, int]]:
    """Every unit of work ``(evaluation, dataset, selector, keep, seed)``, seeds outermost."""
    units = []
    wanted = set(cfg.evaluations)
    for seed in range(cfg.seeds):
        for ds in cfg.datasets:
            evals = set(_EVALS_BY_DATA[ds]) & wanted
            methods = study_selectors(ds, cfg.selectors)
            if "A" in evals:
                units.append(("A", ds, "ltrp", cfg.headline_keep, seed))
            if evals & {"C", "D"}:
                keeps = sorted(set(cfg.keeps) | {cfg.headline_keep}) if "C" in evals else [cfg.headline_keep]
                for keep in keeps:
                    units += [("CD", ds, m, keep, seed) for m in methods]
                units.append(("CD", ds, "all", 1.0, seed))
            if "B" in evals:
                units += [("B", ds, m, keep, seed) for keep in cfg.keeps for m in methods]
            if "E" in evals:
                units += [("E", ds, "ltrp", keep, seed) for keep in cfg.keeps]
    return units


def summarize_rows(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, float, str], tuple[float, float, int]]:
    """``(evaluation, dataset, selector, keep, metric) -> (mean, std, n)`` over seeds.

    Examples:
        >>> rows = [dict(evaluation="D", dataset="digits", selector="ltrp", keep=0.125, seed=s,
        ...              metric="acc_seen", value=v) for s, v in enumerate([90.0, 92.0])]
        >>> summarize_rows(rows)[("D", "digits", "ltrp", 0.125, "acc_seen")]
        (91.0, 1.4142135623730951, 2)
    """
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        key = (r["evaluation"], r["dataset"], r["selector"], float(r["keep"]), r["metric"])
        groups.setdefault(key, []).append(float(r["value"]))
    return {k: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
            for k, v in groups.items()}

