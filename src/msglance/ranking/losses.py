"""Learning-to-rank losses for patch scores (functional API first, modules second).

Every function takes ``scores`` (the ranker's output) and ``labels`` (the pseudo-scores; larger
= more important), both ``(N, K)``: ``N`` lists of ``K`` items. Each loss is computed per list
and then reduced over the batch (``reduction`` in ``"mean"``, ``"sum"``, ``"none"``). Inputs of
any floating dtype are computed, and returned, in at least float32 (a float16 batch gives a
float32 loss: a list sum of large scores can exceed float16's range of 65504, while the
gradients flowing back to the float16 scores stay bounded).

* :func:`listmle_loss` — Plackett–Luce negative log-likelihood of the label order
  ``π`` (labels sorted descending; ties broken by position):
  :math:`\\ell = \\sum_{i=1}^{K} \\big[\\log \\sum_{j \\ge i} e^{s_{\\pi_j}} - s_{\\pi_i}\\big]`,
  the inner sum a reversed ``logcumsumexp`` (max-shifted, so scores of any size stay
  finite; the reference code exponentiates raw scores and overflows above ~88 in float32).
* :func:`sublist_listmle_loss` — the same on a random sub-list of ``size`` items per list
  (drawn without replacement).
* :func:`listnet_loss` — top-one cross entropy
  :math:`-\\sum_i p_i \\log q_i`, ``p = softmax(z(labels) / T)`` with per-list z-scored labels,
  ``q = softmax(scores)``.
* :func:`pointwise_mse_loss` — :math:`\\frac1K \\sum_i (s_i - z(labels)_i)^2`.
* :func:`ranknet_loss` — over the ordered pairs with ``labels_i − labels_j > threshold``,
  mean of :math:`\\log(1 + e^{-\\sigma (s_i - s_j)})` (a correct RankNet: the reference one
  crashes on a typo).
* :func:`focused_rank_loss` — ListMLE on the ``top`` items by label plus RankNet between each
  top item and every other item (the reference ``focused_rank``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.validation import check_reduction, reduce

__all__ = [
    "LOSSES",
    "RankingLoss",
    "focused_rank_loss",
    "listmle_loss",
    "listnet_loss",
    "pointwise_mse_loss",
    "ranking_loss",
    "ranknet_loss",
    "sublist_listmle_loss",
]


def _check(scores: Tensor, labels: Tensor, reduction: str) -> tuple[Tensor, Tensor]:
    if not isinstance(scores, Tensor) or not isinstance(labels, Tensor):
        raise TypeError("scores and labels must be torch tensors")
    if scores.ndim != 2 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must both be (N, K), got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
    if scores.shape[1] < 1:
        raise ValueError("scores must hold at least one item per list")
    check_reduction(reduction)
    dtype = torch.promote_types(scores.dtype, torch.float32)
    return scores.to(dtype), labels.to(dtype)


def _zscore(labels: Tensor) -> Tensor:
    mean = labels.mean(dim=1, keepdim=True)
    std = labels.std(dim=1, keepdim=True, unbiased=False)
    return (labels - mean) / (std + 1e-8)


def _order(labels: Tensor) -> Tensor:
    return labels.argsort(dim=1, descending=True, stable=True)


def listmle_loss(scores: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """Full-list ListMLE (Plackett–Luce NLL of the label order), stable for any score size.

    Returns the batch mean (``reduction="mean"``) of the per-list sums.

    Examples:
        >>> s = torch.tensor([[3.0, 2.0, 1.0]])
        >>> good = listmle_loss(s, torch.tensor([[3.0, 2.0, 1.0]]))
        >>> bad = listmle_loss(s, torch.tensor([[1.0, 2.0, 3.0]]))
        >>> bool(good < bad), bool(torch.isfinite(listmle_loss(1e4 * s, s)))
        (True, True)
    """
    s, y = _check(scores, labels, reduction)
    ordered = s.gather(1, _order(y))
    tail = torch.logcumsumexp(ordered.flip(1), dim=1).flip(1)
    per_list = (tail - ordered).sum(dim=1)
    return reduce(per_list, reduction)


def sublist_listmle_loss(
    scores: Tensor,
    labels: Tensor,
    size: int,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ListMLE on a random sub-list of ``size`` items per list (without replacement).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> s, y = torch.rand(4, 10), torch.rand(4, 10)
        >>> tuple(sublist_listmle_loss(s, y, 5, g, reduction="none").shape)
        (4,)
    """
    s, y = _check(scores, labels, reduction)
    if not 1 <= size <= s.shape[1]:
        raise ValueError(f"size must be in [1, {s.shape[1]}], got {size}")
    pick = torch.rand(s.shape, generator=generator, device=s.device).argsort(dim=1)[:, :size]
    return listmle_loss(s.gather(1, pick), y.gather(1, pick), reduction)


def listnet_loss(
    scores: Tensor, labels: Tensor, temperature: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """ListNet top-one cross entropy with per-list z-scored labels and a temperature.

    Examples:
        >>> s = torch.zeros(1, 4)  # uniform q: the loss is log K whatever the labels
        >>> round(float(listnet_loss(s, torch.rand(1, 4))), 4) == round(float(torch.log(torch.tensor(4.))), 4)
        True
    """
    s, y = _check(scores, labels, reduction)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    target = F.softmax(_zscore(y) / temperature, dim=1)
    per_list = -(target * F.log_softmax(s, dim=1)).sum(dim=1)
    return reduce(per_list, reduction)


def pointwise_mse_loss(scores: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error between the scores and the per-list z-scored labels.

    Examples:
        >>> y = torch.tensor([[1.0, 3.0]])
        >>> float(pointwise_mse_loss(torch.tensor([[-1.0, 1.0]]), y)) < 1e-6
        True
    """
    s, y = _check(scores, labels, reduction)
    per_list = (s - _zscore(y)).square().mean(dim=1)
    return reduce(per_list, reduction)


def ranknet_loss(
    scores: Tensor,
    labels: Tensor,
    sigma: float = 1.0,
    threshold: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """RankNet: mean over pairs with ``labels_i − labels_j > threshold`` of
    ``softplus(−σ (s_i − s_j))``. A list without such a pair contributes 0.

    Examples:
        >>> s = torch.tensor([[0.0, 1.0]])
        >>> y = torch.tensor([[1.0, 0.0]])  # one pair (0 above 1): log(1 + e)
        >>> round(float(ranknet_loss(s, y)), 4)
        1.3133
    """
    s, y = _check(scores, labels, reduction)
    return _pairwise(s, s, y, y, sigma, threshold, reduction)


def _pairwise(
    s_a: Tensor, s_b: Tensor, y_a: Tensor, y_b: Tensor, sigma: float, threshold: float, reduction: str
) -> Tensor:
    dy = y_a[:, :, None] - y_b[:, None, :]
    ds = s_a[:, :, None] - s_b[:, None, :]
    above = (dy > threshold).to(s_a.dtype)
    below = (dy < -threshold).to(s_a.dtype)
    per_pair = F.softplus(-sigma * ds) * above + F.softplus(sigma * ds) * below
    count = (above + below).sum(dim=(1, 2))
    per_list = per_pair.sum(dim=(1, 2)) / count.clamp(min=1)
    return reduce(per_list, reduction)


def focused_rank_loss(
    scores: Tensor,
    labels: Tensor,
    top: int,
    sigma: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """ListMLE on the ``top`` items by label + RankNet between those and the other items.

    Examples:
        >>> s = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
        >>> y = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
        >>> bool(focused_rank_loss(s, y, 2) < focused_rank_loss(-s, y, 2))
        True
    """
    s, y = _check(scores, labels, reduction)
    if not 1 <= top < s.shape[1]:
        raise ValueError(f"top must be in [1, {s.shape[1] - 1}], got {top}")
    order = _order(y)
    head, rest = order[:, :top], order[:, top:]
    listwise = listmle_loss(s.gather(1, head), y.gather(1, head), "none")
    pairwise = _pairwise(s.gather(1, head), s.gather(1, rest), y.gather(1, head),
                         y.gather(1, rest), sigma, 0.0, "none")
    return reduce(listwise + pairwise, reduction)


#: name -> loss; every entry is called ``fn(scores, labels, **options)``.
LOSSES = {
    "listmle": listmle_loss,
    "sublist_listmle": sublist_listmle_loss,
    "listnet": listnet_loss,
    "pointwise_mse": pointwise_mse_loss,
    "ranknet": ranknet_loss,
    "focused_rank": focused_rank_loss,
}


def ranking_loss(name: str):
    """The loss function registered under ``name`` (see :data:`LOSSES`).

    Examples:
        >>> ranking_loss("listmle") is listmle_loss
        True
    """
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown ranking loss {name!r}; choose one of {', '.join(LOSSES)}") from None


class RankingLoss(nn.Module):
    """Module form of a named ranking loss with fixed options.

    Examples:
        >>> loss = RankingLoss("listnet", temperature=0.5)
        >>> bool(loss(torch.rand(2, 5), torch.rand(2, 5)) > 0)
        True
    """

    def __init__(self, name: str = "listmle", reduction: str = "mean", **options):
        super().__init__()
        self.name = name
        self.fn = ranking_loss(name)
        check_reduction(reduction)
        self.reduction = reduction
        self.options = options

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        return self.fn(scores, labels, reduction=self.reduction, **self.options)

    def extra_repr(self) -> str:
        return f"{self.name!r}, reduction={self.reduction!r}, options={self.options}"
