"""LTRP pseudo-labels: how much a frozen MAE's reconstruction changes when one visible patch goes.

For an image with visible patches ``V = (v_1 < … < v_K)`` (:func:`~msglance.ranking.mae.random_masking`)
and masked positions ``M``, the anchor is the reconstruction from all ``K`` visible patches,
``A = f(V)``, and the pseudo-score of visible patch ``i`` is

.. math::  s_i = \\frac{1}{|M|\\,P^2 C} \\sum_{l \\in M} \\lVert A_l - f(V \\setminus \\{v_i\\})_l \\rVert_1

(``measure="l1"``; ``"mse"`` squares instead). A larger change means a more important patch.
Two removal modes:

* ``"true"`` (default): re-encode the ``K − 1`` remaining patches, ``f(V∖{v_i}) =
  dec(enc(V∖{v_i}))``;
* ``"decoder"`` (the reference code's default): encode ``V`` once and hide token ``i`` from
  every decoder query with a key-padding mask.

All ``K`` removals of a batch of ``N`` images run as **one batched pass of ``N·K``
sequences** (``max_sequences`` bounds the pass: it then runs over groups of
``⌊max_sequences / K⌋`` images, with the same scores up to float rounding and memory that no
longer grows with ``N``). Any full-reference metric of :mod:`msglance.metrics` (``"ssim"``,
``"ms_glance"``, ``"effnet_distance"``, …) may replace ``l1``: it is then computed between the
un-patchified images ``A`` and ``f(V∖{v_i})``, with the ``K`` originally visible patches pasted
from the input into both so that only masked positions differ; a higher-is-better metric ``m``
is turned into the distance ``1 − m``. A callable ``measure(recon, anchor) -> (M,)`` on such
images also works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from msglance.ranking.mae import random_masking
from msglance.ranking.patches import patchify, unpatchify

__all__ = ["REMOVAL_MODES", "PseudoScores", "pseudo_scores", "removal_index"]

REMOVAL_MODES: tuple[str, ...] = ("true", "decoder")


@dataclass
class PseudoScores:
    """What :func:`pseudo_scores` returns.

    Attributes:
        scores: ``(N, K)`` — ``scores[n, i]`` belongs to the patch ``ids_keep[n, i]``.
        ids_keep: ``(N, K)`` visible patch indices, ascending.
        mask: ``(N, L)`` ``True`` at masked (hidden) positions.
    """

    scores: Tensor
    ids_keep: Tensor
    mask: Tensor


def removal_index(k: int, device: torch.device | str | None = None) -> Tensor:
    """``(K, K − 1)``: row ``i`` lists the list positions ``0 … K−1`` without ``i``.

    Examples:
        >>> removal_index(3).tolist()
        [[1, 2], [0, 2], [0, 1]]
    """
    full = torch.arange(k, device=device).expand(k, k)
    keep = ~torch.eye(k, dtype=torch.bool, device=device)
    return full[keep].reshape(k, k - 1)


def _registry_measure(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    from msglance.metrics import registry

    spec = registry.get(name)
    if not spec.full_reference:
        raise ValueError(f"measure {name!r} is a no-reference metric; a full-reference one is needed")

    def measure(recon: Tensor, anchor: Tensor) -> Tensor:
        value = spec.fn(recon, anchor, data_range=1.0, reduction="none", check_range=False)
        value = value.reshape(len(recon), -1).mean(dim=1)
        return 1.0 - value if spec.higher_is_better else value

    return measure


@torch.no_grad()
def pseudo_scores(
    mae: torch.nn.Module,
    images: Tensor,
    mask_ratio: float = 0.75,
    *,
    mode: str = "true",
    measure: str | Callable[[Tensor, Tensor], Tensor] = "l1",
    generator: torch.Generator | None = None,
    ids_keep: Tensor | None = None,
    max_sequences: int | None = None,
) -> PseudoScores:
    """Removal scores of every visible patch (see the module docstring for the maths).

    Args:
        mae: a :class:`~msglance.ranking.mae.MaskedAutoencoder` (or any module with its
            ``patch``, ``length``, ``grid``, ``encode`` and ``decode``).
        images: ``(N, C, H, W)`` on the MAE's device.
        mask_ratio: fraction of patches masked (``K = ⌊L(1 − r)⌋ ≥ 2``).
        mode: ``"true"`` (re-encode ``K − 1`` patches) or ``"decoder"`` (key-padding mask).
        measure: ``"l1"``, ``"mse"``, a registry metric name, or a callable on images.
        generator: draws the masks (ignored when ``ids_keep`` is given).
        ids_keep: ``(N, K)`` ascending visible indices to use instead of a random mask.
        max_sequences: at most this many removal sequences per pass (at least one image's
            ``K``); ``None`` = all ``N·K`` in one pass.

    Examples:
        >>> from msglance.ranking.mae import MAEConfig, MaskedAutoencoder
        >>> _ = torch.manual_seed(0)
        >>> mae = MaskedAutoencoder(MAEConfig(image_size=8, patch=2, dim=16, depth=1,
        ...                                   decoder_dim=16, decoder_depth=1)).eval()
        >>> out = pseudo_scores(mae, torch.rand(2, 1, 8, 8), 0.75,
        ...                     generator=torch.Generator().manual_seed(0))
        >>> tuple(out.scores.shape), bool((out.scores >= 0).all())
        ((2, 4), True)
    """
    if mode not in REMOVAL_MODES:
        raise ValueError(f"mode must be one of {REMOVAL_MODES}, got {mode!r}")
    n = len(images)
    length = int(mae.length)
    patches = patchify(images, int(mae.patch))
    if ids_keep is None:
        ids_keep, mask = random_masking(n, length, mask_ratio, generator, device=images.device)
    else:
        if ids_keep.ndim != 2 or len(ids_keep) != n:
            raise ValueError(f"ids_keep must be (N, K) with N={n}, got {tuple(ids_keep.shape)}")
        if not bool((ids_keep.diff(dim=1) > 0).all()):
            raise ValueError("ids_keep must be strictly ascending in every row")
        if ids_keep.shape[1] < 2:
            raise ValueError(f"ids_keep must hold at least 2 visible patches, got {ids_keep.shape[1]}")
        ids_keep = ids_keep.to(images.device)
        mask = torch.ones(n, length, dtype=torch.bool, device=images.device)
        mask.scatter_(1, ids_keep, False)
    k = ids_keep.shape[1]
    if max_sequences is not None and (not isinstance(max_sequences, int) or max_sequences < 1):
        raise ValueError(f"max_sequences must be a positive int or None, got {max_sequences!r}")
    fn = None
    if measure not in ("l1", "mse"):
        fn = _registry_measure(measure) if isinstance(measure, str) else measure
        if not callable(fn):
            raise ValueError(f"measure must be 'l1', 'mse', a metric name or a callable, got {measure!r}")
    per = n if max_sequences is None else max(1, max_sequences // k)
    scores = torch.cat([
        _removal_scores(mae, patches[s : s + per], ids_keep[s : s + per], mask[s : s + per],
                        mode, measure, fn, images.shape[1])
        for s in range(0, n, per)
    ])
    return PseudoScores(scores, ids_keep, mask)


def _removal_scores(mae: torch.nn.Module, patches: Tensor, ids_keep: Tensor, mask: Tensor,
                    mode: str, measure: object, fn: Callable[[Tensor, Tensor], Tensor] | None,
                    channels: int) -> Tensor:
    """``(n, K)`` scores of one group of images: anchor and all ``n·K`` removals in one pass."""
    n, k = ids_keep.shape
    device = patches.device
    latent = mae.encode(patches, ids_keep)
    anchor = mae.decode(latent, ids_keep)  # (n, L, D)
    if mode == "true":
        ids_rem = ids_keep[:, removal_index(k, device)].reshape(n * k, k - 1)
        rep = patches.repeat_interleave(k, dim=0)
        recon = mae.decode(mae.encode(rep, ids_rem), ids_rem)
    else:
        hidden = torch.eye(k, dtype=torch.bool, device=device).repeat(n, 1)  # (n·K, K)
        recon = mae.decode(latent.repeat_interleave(k, dim=0),
                           ids_keep.repeat_interleave(k, dim=0), hidden=hidden)
    anchor_rep = anchor.repeat_interleave(k, dim=0)
    mask_rep = mask.repeat_interleave(k, dim=0)  # (n·K, L)

    if fn is None:
        diff = (anchor_rep - recon).abs()
        if measure == "mse":
            diff = diff.square()
        per_patch = diff.mean(dim=-1)
        scores = (per_patch * mask_rep).sum(dim=1) / mask_rep.sum(dim=1)
    else:
        grid = tuple(mae.grid)
        original = patches.repeat_interleave(k, dim=0)
        keep = mask_rep[..., None]

        def image(p: Tensor) -> Tensor:
            return unpatchify(torch.where(keep, p, original), int(mae.patch), grid, channels)

        scores = fn(image(recon), image(anchor_rep)).reshape(-1)
    return scores.reshape(n, k)
