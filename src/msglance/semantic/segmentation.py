"""Image regions for the offline scene graphs: SLIC superpixels merged into a few regions.

The authors' pipeline segments with SAM ViT-H; offline we use a classical segmentation:

1. SLIC superpixels (Achanta et al. 2012, ``skimage.segmentation.slic``, ``n_segments``
   superpixels, compactness 10, on the RGB image in [0, 1], deterministic);
2. greedy merging of *adjacent* regions, always the pair with the smallest distance
   ``‖μ_a - μ_b‖₂`` between their mean CIE-Lab colours (ties: the smaller ids), until at
   most ``max_regions`` remain;
3. regions smaller than ``min_area`` (a fraction of the image) are merged into their most
   similar neighbour; they are never dropped, so the masks partition the image.

The result is a ``(n, H, W)`` boolean stack, sorted by decreasing area (ties: top-left first),
so it is reproducible and independent of label numbering.
"""

from __future__ import annotations

import numpy as np

__all__ = ["segment_regions"]


def segment_regions(
    image: np.ndarray,
    max_regions: int = 8,
    min_area: float = 0.02,
    n_segments: int = 120,
) -> np.ndarray:
    """Boolean masks ``(n, H, W)`` partitioning ``image`` into ``n <= max_regions`` regions.

    Args:
        image: ``(H, W, 3)`` RGB or ``(H, W)`` grey, values in [0, 1].
        max_regions: most regions kept (>= 1).
        min_area: smallest region, as a fraction of the image, in [0, 1).
        n_segments: SLIC superpixels before merging.

    Examples:
        >>> import numpy as np
        >>> img = np.zeros((64, 64, 3)); img[:, 32:] = [1.0, 0.0, 0.0]
        >>> masks = segment_regions(img, max_regions=2)
        >>> masks.shape, bool(masks[0][:, :32].all() or masks[0][:, 32:].all())
        ((2, 64, 64), True)
    """
    from skimage.color import gray2rgb, rgb2lab
    from skimage.segmentation import slic

    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = gray2rgb(img)
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 4:
        raise ValueError(f"image must be (H, W) or (H, W, 3) with sides >= 4, got {img.shape}")
    if not np.isfinite(img).all():
        raise ValueError("image must be finite (it holds NaN or inf)")
    if not (isinstance(max_regions, int) and max_regions >= 1):
        raise ValueError(f"max_regions must be an integer >= 1, got {max_regions!r}")
    if not 0.0 <= min_area < 1.0:
        raise ValueError(f"min_area must be in [0, 1), got {min_area}")
    img = np.clip(img, 0.0, 1.0)
    labels = slic(img, n_segments=n_segments, compactness=10.0, start_label=0,
                  channel_axis=-1, enforce_connectivity=True)
    lab = rgb2lab(img).reshape(-1, 3)
    flat = labels.reshape(-1)
    n = int(flat.max()) + 1
    count = np.bincount(flat, minlength=n).astype(np.float64)
    total = np.stack([np.bincount(flat, lab[:, c], minlength=n) for c in range(3)], axis=1)
    parent = np.arange(n)
    adjacency: dict[int, set[int]] = {i: set() for i in range(n) if count[i] > 0}
    for a, b in _touching_pairs(labels):
        adjacency[a].add(b)
        adjacency[b].add(a)

    def colour_distance(a: int, b: int) -> float:
        return float(np.linalg.norm(total[a] / count[a] - total[b] / count[b]))

    def merge(a: int, b: int) -> None:  # b into a
        count[a] += count[b]
        total[a] += total[b]
        count[b] = 0.0
        parent[parent == b] = a
        for c in adjacency.pop(b):
            adjacency[c].discard(b)
            if c != a:
                adjacency[c].add(a)
                adjacency[a].add(c)
        adjacency[a].discard(a)

    while len(adjacency) > max_regions:
        best = min(((colour_distance(a, b), a, b) for a in adjacency for b in adjacency[a]
                    if a < b), default=None)
        if best is None:  # disconnected pieces cannot happen with SLIC, but stay safe
            break
        _, a, b = best
        merge(a, b)
    floor = min_area * flat.size
    while len(adjacency) > 1:
        small = [a for a in adjacency if count[a] < floor]
        if not small:
            break
        a = min(small, key=lambda r: (count[r], r))
        if not adjacency[a]:
            break
        b = min(adjacency[a], key=lambda c: (colour_distance(a, c), c))
        merge(b, a)
    regions = parent[labels]
    ids = list(adjacency)
    masks = np.stack([regions == i for i in ids])
    order = sorted(range(len(ids)), key=lambda k: (-int(masks[k].sum()), _first_pixel(masks[k])))
    return masks[order]


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        for x, y in zip(a[diff].tolist(), b[diff].tolist()):
            pairs.add((min(x, y), max(x, y)))
    return pairs


def _first_pixel(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(-1))[0])
