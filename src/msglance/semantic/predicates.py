r"""Geometric predicates between image regions (the offline stand-in for Relate-Anything).

For an ordered pair of regions ``u → x`` (boolean masks), with boxes ``B``, centroids
``c = (row/H, col/W)`` and the offset ``d = c_x - c_u``:

* ``"inside"`` (``u`` in ``x``) when ``|B_u ∩ B_x| / |B_u| >= 0.85`` and ``|B_x| > |B_u|``,
  confidence that fraction; ``"contains"`` is the same seen from ``x``;
* otherwise only **touching** regions (4-neighbour contact) are related:
  ``"overlapping"`` when the boxes' IoU is at least 0.5 (confidence the IoU), else the
  dominant axis of ``d`` gives ``"left of"`` / ``"right of"`` (``u`` left of ``x`` when
  ``d_col > 0``) or ``"above"`` / ``"below"``, with confidence
  ``max(|d_row|, |d_col|) / (|d_row| + |d_col|)`` in [0.5, 1]; when that is below 0.6 the
  direction is ambiguous and the predicate is ``"next to"`` (confidence 1 - that value + 0.5).

Each node keeps at most ``max_out`` out-edges, the most confident (ties: smaller index).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PREDICATES", "geometric_relations"]

#: the predicate vocabulary of the offline generator
PREDICATES: tuple[str, ...] = (
    "left of", "right of", "above", "below", "inside", "contains", "overlapping", "next to",
)

_INSIDE = 0.85
_OVERLAP_IOU = 0.5
_AMBIGUOUS = 0.6


def geometric_relations(masks: np.ndarray, max_out: int = 4) -> list[tuple[int, int, str, float]]:
    """Edges ``(subject, object, predicate, confidence)`` between the masks ``(n, H, W)``.

    Examples:
        >>> import numpy as np
        >>> masks = np.zeros((2, 4, 8), bool); masks[0, :, :4] = True; masks[1, :, 4:] = True
        >>> geometric_relations(masks)
        [(0, 1, 'left of', 1.0), (1, 0, 'right of', 1.0)]
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (n, H, W), got shape {masks.shape}")
    if not (isinstance(max_out, int) and max_out >= 0):
        raise ValueError(f"max_out must be an integer >= 0, got {max_out!r}")
    n, h, w = masks.shape
    if n < 2:
        return []
    if (masks.reshape(n, -1).sum(axis=1) == 0).any():
        raise ValueError("masks must not be empty")
    boxes = np.array([_box(m) for m in masks], dtype=np.float64)  # r0, c0, r1, c1 (exclusive)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    rows, cols = np.mgrid[0:h, 0:w]
    counts = masks.reshape(n, -1).sum(axis=1)
    cent = np.stack([(masks * rows).reshape(n, -1).sum(1) / counts / h,
                     (masks * cols).reshape(n, -1).sum(1) / counts / w], axis=1)
    touch = _touching(masks)
    per_node: list[list[tuple[float, int, str]]] = [[] for _ in range(n)]
    for u in range(n):
        for x in range(n):
            if u == x:
                continue
            inter = _intersection(boxes[u], boxes[x])
            if inter / area[u] >= _INSIDE and area[x] > area[u]:
                per_node[u].append((inter / area[u], x, "inside"))
                continue
            if inter / area[x] >= _INSIDE and area[u] > area[x]:
                per_node[u].append((inter / area[x], x, "contains"))
                continue
            if not touch[u, x]:
                continue
            iou = inter / (area[u] + area[x] - inter)
            if iou >= _OVERLAP_IOU:
                per_node[u].append((iou, x, "overlapping"))
                continue
            dr, dc = cent[x] - cent[u]
            dominance = max(abs(dr), abs(dc)) / max(abs(dr) + abs(dc), 1e-12)
            if dominance < _AMBIGUOUS:
                per_node[u].append((1.5 - dominance, x, "next to"))
            elif abs(dc) >= abs(dr):
                per_node[u].append((dominance, x, "left of" if dc > 0 else "right of"))
            else:
                per_node[u].append((dominance, x, "above" if dr > 0 else "below"))
    edges = []
    for u, cands in enumerate(per_node):
        cands.sort(key=lambda t: (-t[0], t[1]))
        for conf, x, pred in sorted(cands[:max_out], key=lambda t: t[1]):
            edges.append((u, x, pred, round(float(conf), 12)))
    return edges


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    r = np.flatnonzero(mask.any(axis=1))
    c = np.flatnonzero(mask.any(axis=0))
    return int(r[0]), int(c[0]), int(r[-1]) + 1, int(c[-1]) + 1


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    dr = min(a[2], b[2]) - max(a[0], b[0])
    dc = min(a[3], b[3]) - max(a[1], b[1])
    return float(max(dr, 0.0) * max(dc, 0.0))


def _touching(masks: np.ndarray) -> np.ndarray:
    """``t[u, x]``: regions ``u`` and ``x`` share a 4-neighbour boundary (or overlap)."""
    n = masks.shape[0]
    grown = masks.copy()
    grown[:, 1:] |= masks[:, :-1]
    grown[:, :-1] |= masks[:, 1:]
    grown[:, :, 1:] |= masks[:, :, :-1]
    grown[:, :, :-1] |= masks[:, :, 1:]
    flat_g = grown.reshape(n, -1).astype(np.float32)
    flat_m = masks.reshape(n, -1).astype(np.float32)
    t = (flat_g @ flat_m.T) > 0
    t = t | t.T
    np.fill_diagonal(t, False)
    return t
