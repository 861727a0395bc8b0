"""Which ``k`` patches to keep: LTRP and the baselines it is judged against.

``select(images, k, method=...)`` returns ``(N, k)`` unique, in-range patch indices per image,
**sorted ascending** (raster order). Score-based methods keep the ``k`` highest patch scores
``s ∈ R^{N×L}`` (:func:`patch_scores`); ties are broken by a seeded random order, so a
constant score map (e.g. ``variance`` on images whose patches are single pixels) degrades to
``random`` instead of silently keeping the first rows.

==========================  =================================================================
method                      patch score / rule
==========================  =================================================================
``ltrp``                    the ranker's scores (:class:`~msglance.ranking.ranker.PatchRanker`)
``ltrp_hybrid``             top ``round(ρ k)`` by the ranker (``ρ = 0.7``), the rest by DPC-KNN
                            diversity over the raw pixel patches (the reference COCO recipe)
``random``                  a seeded uniformly random ``k``-subset
``grid``                    uniform coverage: farthest-point sampling of the grid positions
                            from the centre (the same positions for every image)
``variance``                the pixel variance of the patch
``energy``                  ``mean |patch − image mean|``
``supervised_attention``    last-layer CLS attention of a :class:`TokenClassifier` trained with
                            labels
``gradient_saliency``       ``Σ_{pixels of the patch} |∂ z_ĉ / ∂ x|`` for that classifier's
                            predicted class ``ĉ``
``effnet_saliency``         Grad-CAM of the offline ImageNet EfficientNet-Lite0 for its top-1
                            class (= CAM for its pooled linear head), on the image resized to
                            224², averaged per patch
==========================  =================================================================

DPC-KNN (Du et al. 2016): with ``d_ij`` the Euclidean distance between patches ``i`` and
``j``, density ``ρ_i = exp(−mean_{j ∈ kNN(i)} d_ij²)``, separation ``δ_i = min_{j: ρ_j > ρ_i}
d_ij`` (``max_j d_ij`` for the densest patch), and the patches with the largest ``ρ_i δ_i``
among those not yet kept are added.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.ranking.patches import check_grid, check_k, patchify

__all__ = [
    "METHODS",
    "SUPERVISED_METHODS",
    "dpc_knn_scores",
    "grid_order",
    "patch_scores",
    "select",
    "top_k",
]

METHODS: tuple[str, ...] = (
    "ltrp",
    "ltrp_hybrid",
    "random",
    "grid",
    "variance",
    "energy",
    "supervised_attention",
    "gradient_saliency",
    "effnet_saliency",
)
#: methods whose backbone was trained with labels
SUPERVISED_METHODS: tuple[str, ...] = ("supervised_attention", "gradient_saliency", "effnet_saliency")


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def top_k(scores: Tensor, k: int, seed: int = 0, exclude: Tensor | None = None) -> Tensor:
    """Indices ``(N, k)`` of the ``k`` largest scores per row, ties in seeded random order,
    skipping ``exclude`` (bool ``(N, L)``); returned in descending score order.

    Examples:
        >>> top_k(torch.tensor([[0.1, 0.9, 0.5, 0.7]]), 2).tolist()
        [[1, 3]]
    """
    n, length = scores.shape
    s = scores.detach().float()
    if exclude is not None:
        s = s.masked_fill(exclude, float("-inf"))
    perm = torch.rand(n, length, generator=_generator(seed, s.device), device=s.device).argsort(dim=1)
    shuffled = s.gather(1, perm)
    order = shuffled.argsort(dim=1, descending=True, stable=True)[:, :k]
    return perm.gather(1, order)


def grid_order(grid: tuple[int, int]) -> Tensor:
    """All ``L`` positions ordered by farthest-point sampling from the centre of the grid.

    The first ``k`` entries cover the grid uniformly for every ``k``.

    Examples:
        >>> grid_order((3, 3))[:5].tolist()  # centre, then the four corners
        [4, 0, 2, 6, 8]
    """
    rows, cols = grid
    coords = torch.stack(torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij"), -1)
    coords = coords.reshape(-1, 2).double()
    centre = torch.tensor([(rows - 1) / 2, (cols - 1) / 2], dtype=torch.float64)
    first = int((coords - centre).square().sum(1).argmin())
    chosen = [first]
    dist = (coords - coords[first]).square().sum(1)
    for _ in range(rows * cols - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = torch.minimum(dist, (coords - coords[nxt]).square().sum(1))
    return torch.tensor(chosen)


def dpc_knn_scores(features: Tensor, knn: int = 5, seed: int = 0) -> Tensor:
    """DPC-KNN cluster-centre scores ``ρ δ`` ``(N, L)`` of ``features (N, L, D)``.

    Examples:
        >>> f = torch.tensor([[[0.], [0.1], [0.2], [5.0], [5.1]]])
        >>> int(dpc_knn_scores(f, knn=2).argmax()), int(dpc_knn_scores(f, knn=2)[0, 3:].argmax()) + 3
        (1, 3)
    """
    n, length, _ = features.shape
    knn = max(1, min(knn, length - 1))
    d = torch.cdist(features.float(), features.float())
    near = d.topk(knn + 1, dim=-1, largest=False).values[..., 1:]
    density = torch.exp(-near.square().mean(dim=-1))
    jitter = torch.rand(n, length, generator=_generator(seed, features.device), device=features.device)
    density = density + 1e-6 * jitter  # no exact ties between densities
    higher = density[:, None, :] > density[:, :, None]  # [n, i, j]: ρ_j > ρ_i
    dmax = d.flatten(1).max(dim=1).values[:, None, None]
    delta = torch.where(higher, d, dmax.expand_as(d)).min(dim=-1).values
    return density * delta


def _classifier_scores(method: str, images: Tensor, classifier: nn.Module) -> Tensor:
    classifier.eval()
    if method == "supervised_attention":
        with torch.no_grad():
            return classifier.cls_attention(images)
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = classifier(x)
        picked = logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum()
        (grad,) = torch.autograd.grad(picked, x)
    return patchify(grad.abs(), classifier.patch).sum(dim=-1)


def _effnet_scores(images: Tensor, patch: int, device: torch.device) -> Tensor:
    from msglance.metrics.effnet import load_efficientnet_lite0
    from msglance.metrics.perceptual import to_network_input

    net = load_efficientnet_lite0(device)
    x = F.interpolate(images.to(device), size=(224, 224), mode="bilinear", align_corners=False)
    with torch.no_grad():
        feats = net.head_features(to_network_input(x.clamp(0, 1), 1.0))
        logits = net.classifier(feats.mean(dim=(-2, -1)))
        weights = net.classifier.weight[logits.argmax(dim=1)]  # (N, 1280)
        cam = torch.relu(torch.einsum("nk,nkhw->nhw", weights, feats))[:, None]
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return patchify(cam, patch).mean(dim=-1).to(images.device)


def patch_scores(
    images: Tensor,
    method: str,
    *,
    patch: int | None = None,
    ranker: nn.Module | None = None,
    classifier: nn.Module | None = None,
) -> Tensor:
    """Importance ``(N, L)`` of every patch by a score-based method (all but ``random``,
    ``grid`` and ``ltrp_hybrid``); larger = more important.

    Examples:
        >>> x = torch.zeros(1, 1, 4, 4); x[0, 0, 2:, 2:] = 1.0
        >>> patch_scores(x, "energy", patch=2).tolist()
        [[0.25, 0.25, 0.25, 0.75]]
    """
    patch = _patch_of(patch, ranker, classifier)
    if method in ("ltrp", "ltrp_hybrid"):
        if ranker is None:
            raise ValueError(f"method {method!r} needs a ranker (PatchRanker.from_checkpoint)")
        return ranker.rank(images)
    if method == "variance":
        return patchify(images, patch).var(dim=-1, unbiased=False)
    if method == "energy":
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        return patchify((images - mean).abs(), patch).mean(dim=-1)
    if method in ("supervised_attention", "gradient_saliency"):
        if classifier is None:
            raise ValueError(f"method {method!r} needs a classifier trained with labels")
        return _classifier_scores(method, images, classifier)
    if method == "effnet_saliency":
        return _effnet_scores(images, patch, images.device)
    raise ValueError(f"method {method!r} has no patch scores; score-based methods: "
                     f"{', '.join(m for m in METHODS if m not in ('random', 'grid'))}")


def _patch_of(patch: int | None, *models: nn.Module | None) -> int:
    for model in models:
        if model is not None and patch is None:
            patch = int(model.patch)
    if patch is None:
        raise ValueError("patch is required when neither a ranker nor a classifier is given")
    return patch


def select(
    images: Tensor,
    k: int,
    method: str = "ltrp",
    *,
    patch: int | None = None,
    ranker: nn.Module | None = None,
    classifier: nn.Module | None = None,
    seed: int = 0,
    rho: float = 0.7,
    knn: int = 5,
) -> Tensor:
    """Keep ``k`` patches per image: ``(N, k)`` unique indices in ``[0, L)``, ascending.

    Args:
        images: ``(N, C, H, W)``, ``H`` and ``W`` multiples of the patch size.
        k: patches to keep, ``1 ≤ k ≤ L``.
        method: one of :data:`METHODS`.
        patch: patch side (taken from the ranker or classifier when given).
        ranker: a trained :class:`~msglance.ranking.ranker.PatchRanker` (``ltrp*``).
        classifier: a labelled :class:`~msglance.ranking.classifier.TokenClassifier`
            (``supervised_attention``, ``gradient_saliency``).
        seed: the random draws (``random``; tie breaking; DPC-KNN jitter).
        rho: share of ``ltrp_hybrid``'s ``k`` chosen by the ranker.
        knn: neighbours of the DPC-KNN density.

    Raises:
        ValueError: unknown method, bad ``k`` or patch size, a missing ranker/classifier.

    Examples:
        >>> x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> ids = select(x, 3, "variance", patch=2)
        >>> tuple(ids.shape), bool((ids.diff(dim=1) > 0).all())
        ((2, 3), True)
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError("images must be a (N, C, H, W) tensor")
    patch = _patch_of(patch, ranker, classifier)
    gh, gw = check_grid(images.shape[-2], images.shape[-1], patch)
    length = gh * gw
    k = check_k(k, length)
    n = len(images)
    if method == "random":
        g = _generator(seed, images.device)
        ids = torch.rand(n, length, generator=g, device=images.device).argsort(dim=1)[:, :k]
    elif method == "grid":
        ids = grid_order((gh, gw))[:k].to(images.device).expand(n, k)
    elif method == "ltrp_hybrid":
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"rho must be in [0, 1], got {rho}")
        by_rank = int(round(rho * k))
        ranked = top_k(patch_scores(images, "ltrp", ranker=ranker), by_rank, seed) if by_rank else None
        taken = torch.zeros(n, length, dtype=torch.bool, device=images.device)
        if ranked is not None:
            taken.scatter_(1, ranked, True)
        rest = k - by_rank
        parts = [] if ranked is None else [ranked]
        if rest:
            diversity = dpc_knn_scores(patchify(images, patch), knn, seed)
            parts.append(top_k(diversity, rest, seed, exclude=taken))
        ids = torch.cat(parts, dim=1)
    else:
        scores = patch_scores(images, method, patch=patch, ranker=ranker, classifier=classifier)
        ids = top_k(scores, k, seed)
    return ids.sort(dim=1).values
