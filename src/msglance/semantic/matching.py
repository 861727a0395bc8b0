r"""The SeSS matching core on plain arrays: similarity propagation + weighted assignment.

This is the scene-graph matching of Fan et al., "Semantic Similarity Score for Measuring
Visual Similarity at Semantic Level" (IEEE IoT-J 2024), as released in the authors' code,
written on arrays so that users who bring their own node features (CLIP embeddings computed
elsewhere, ...) can call it directly. :func:`msglance.semantic.score.sess_graphs` calls it.

Notation. Graph 1 has ``n1`` nodes, graph 2 ``n2``. ``K₀`` (``n1 × n2``) is the base node
similarity, ``R¹``/``R²`` the relation matrices (``R[u, x] = p >= 0``: an edge ``u → x`` with
predicate index ``p``; ``-1``: no edge; the diagonal is ignored), ``ρ`` (``P × P``) the
predicate similarity and ``w¹``, ``w²`` the node importances (normalised to sum 1 here).
``N⁺(u)`` are the out-neighbours of ``u`` (``u`` the subject), ``W(u) = Σ_{x ∈ N⁺(u)} w_x``.

Propagation, ``T`` sweeps. For every pair ``(u, v)``:

* both ``N⁺(u)`` and ``N⁺(v)`` empty: ``σ = 1``; exactly one empty: ``σ = 0``;
* otherwise, over the out-neighbours ``x_i`` of ``u`` (predicates ``p_i``) and ``y_j`` of
  ``v`` (``q_j``), ``M_ij = (1-α) K(x_i, y_j) + α ρ(p_i, q_j)``,
  ``σ₁ = assign(M_ij · w¹_{x_i} / W(u))``, ``σ₂ = assign(M_ij · w²_{y_j} / W(v))``,
  ``σ = (w¹_u σ₁ + w²_v σ₂) / (w¹_u + w²_v)``;

then ``K(u, v) ← (1-β) K(u, v) + β σ``. ``assign`` is the maximum-weight bipartite
assignment (Kuhn-Munkres, rectangular allowed; :mod:`msglance.semantic.assignment`).

Score. ``S₁ = assign(K_T(u, v) · w¹_u)``, ``S₂ = assign(K_T(u, v) · w²_v)``,
``S_graph = (n1 S₁ + n2 S₂) / (n1 + n2)``, ``SeSS = (1-γ) S_graph + γ G`` with ``G`` the
whole-image similarity (``SeSS = S_graph`` when no ``G`` is given).

Update modes:

* ``"jacobi"`` (default): every sweep is computed from the previous sweep's ``K``. The score
  is then exactly symmetric (swapping the graphs gives the same value) and invariant to the
  order of the nodes, up to floating-point summation order (< 1e-12).
* ``"reference"``: the released code's order. Its first sweep writes a new matrix, but it then
  aliases the two (``L = L_new``), so later sweeps update ``K`` *in place*, pair by pair in
  graph-1-major order, and later pairs read entries already updated in the same sweep. The
  score then depends on node order and is not symmetric: on random 8-node, 16-edge graphs
  with similarities in [0, 1], permuting the nodes or swapping the graphs moved the score by
  6e-4 (median) and 1.9e-3 (max) (``tests/test_semantic_matching.py``).

Edge cases: both graphs empty → ``S_graph = 1``; exactly one empty → ``S_graph = 0``.
If all out-neighbours of ``u`` have zero importance, ``σ₁`` weights them uniformly; if
``w¹_u + w²_v = 0``, ``σ = (σ₁ + σ₂) / 2``; importances summing to 0 are taken as uniform.
With all entries of ``K₀``, ``ρ`` and ``G`` in [0, 1] the score lies in [0, 1]; identical
inputs (``K₀`` with unit diagonal, ``R¹ = R²``, ``ρ`` with unit diagonal, ``G = 1``) give 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msglance.semantic.assignment import assignment, assignment_value, batch_assignment_value

__all__ = [
    "ALPHA",
    "BETA",
    "GAMMA",
    "ITERATIONS",
    "THETA",
    "UPDATES",
    "SeSSResult",
    "base_similarity",
    "cosine_matrix",
    "sess_from_similarities",
]

#: reference hyper-parameters (the authors' ``demo.py``)
THETA = 0.2
ALPHA = 0.25
BETA = 0.05
ITERATIONS = 7
GAMMA = 0.05
UPDATES = ("jacobi", "reference")


@dataclass(frozen=True)
class SeSSResult:
    """What :func:`sess_from_similarities` found.

    Attributes:
        score: ``(1-γ) S_graph + γ G`` (``S_graph`` when no ``G``).
        graph_score: ``S_graph = (n1 S₁ + n2 S₂) / (n1 + n2)``.
        s1: the assignment value with graph 1's importances.
        s2: the assignment value with graph 2's importances.
        global_similarity: the ``G`` used, or ``None``.
        matches: ``(u, v)`` node pairs of the final assignment (graph-1 importances).
        similarity: the propagated node similarity ``K_T`` (``n1 × n2``).
    """

    score: float
    graph_score: float
    s1: float
    s2: float
    global_similarity: float | None
    matches: tuple[tuple[int, int], ...]
    similarity: np.ndarray


def base_similarity(
    features1: np.ndarray,
    features2: np.ndarray,
    centroids1: np.ndarray,
    centroids2: np.ndarray,
    theta: float = THETA,
) -> np.ndarray:
    r"""``K₀(u, v) = (1-θ) cos(f_u, f_v) + θ (1 - ½ ‖c_u - c_v‖²)``.

    Centroids are ``(row / H, col / W)`` in [0, 1], so the location term lies in [0, 1].

    Args:
        features1: ``(n1, d)`` node embeddings of graph 1 (any scale; cosine is taken).
        features2: ``(n2, d)`` node embeddings of graph 2.
        centroids1: ``(n1, 2)`` normalised centroids.
        centroids2: ``(n2, 2)``.
        theta: weight of the location term.

    Examples:
        >>> import numpy as np
        >>> f = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> c = np.array([[0.0, 0.0], [1.0, 1.0]])
        >>> base_similarity(f, f, c, c).round(3).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    f1 = _as_matrix(features1, "features1")
    f2 = _as_matrix(features2, "features2")
    if f1.shape[0] and f2.shape[0] and f1.shape[1] != f2.shape[1]:
        raise ValueError(
            f"features1 and features2 must share a dimension, got {f1.shape[1]} and {f2.shape[1]}"
        )
    c1 = _as_matrix(centroids1, "centroids1")
    c2 = _as_matrix(centroids2, "centroids2")
    for name, c, f in (("centroids1", c1, f1), ("centroids2", c2, f2)):
        if c.shape != (f.shape[0], 2):
            raise ValueError(f"{name} must have shape ({f.shape[0]}, 2), got {c.shape}")
    if not 0.0 <= theta <= 1.0:
        raise ValueError(f"theta must be in [0, 1], got {theta}")
    cos = cosine_matrix(f1, f2)
    d2 = ((c1[:, None, :] - c2[None, :, :]) ** 2).sum(axis=-1)
    return (1.0 - theta) * cos + theta * (1.0 - 0.5 * d2)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities of the rows of ``a`` ``(n, d)`` and ``b`` ``(m, d)``, float64.

    Clipped to [-1, 1]; values within 1e-12 of 1 are set to 1, so that identical vectors give
    exactly 1 despite the rounding of the normalisation (zero rows give 0).

    Examples:
        >>> import numpy as np
        >>> cosine_matrix(np.array([[3.0, 4.0]]), np.array([[3.0, 4.0], [-4.0, 3.0]])).round(12).tolist()
        [[1.0, -0.0]]
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
    nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
    cos = np.clip(na @ nb.T, -1.0, 1.0)
    cos[cos > 1.0 - 1e-12] = 1.0
    return cos


def sess_from_similarities(
    node_similarity: np.ndarray,
    relations1: np.ndarray,
    relations2: np.ndarray,
    predicate_similarity: np.ndarray,
    importance1: np.ndarray,
    importance2: np.ndarray,
    global_similarity: float | None = None,
    *,
    alpha: float = ALPHA,
    beta: float = BETA,
    iterations: int = ITERATIONS,
    gamma: float = GAMMA,
    update: str = "jacobi",
) -> SeSSResult:
    r"""SeSS of two scene graphs given as arrays (see the module docstring for the maths).

    Args:
        node_similarity: ``K₀``, shape ``(n1, n2)``, finite.
        relations1: ``(n1, n1)`` integer predicate indices, ``-1`` = no edge (diagonal ignored).
        relations2: ``(n2, n2)``.
        predicate_similarity: ``ρ``, ``(P, P)``, finite; indices in the relations are < P.
        importance1: ``(n1,)`` non-negative node importances (normalised to sum 1 here).
        importance2: ``(n2,)``.
        global_similarity: ``G``, the whole-image similarity, or ``None`` (then γ is unused).
        alpha: weight of the predicate term in ``M``.
        beta: step of the propagation.
        iterations: number of sweeps ``T`` (>= 0).
        gamma: weight of ``G``.
        update: ``"jacobi"`` (symmetric, order invariant) or ``"reference"`` (released code).

    Returns:
        A :class:`SeSSResult`.

    Raises:
        ValueError, TypeError: an argument of the wrong shape, dtype or value (named).

    Examples:
        >>> import numpy as np
        >>> k0 = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> r = np.array([[-1, 0], [-1, -1]])
        >>> res = sess_from_similarities(k0, r, r, np.ones((1, 1)), [0.5, 0.5], [0.5, 0.5])
        >>> round(res.score, 4), res.matches
        (0.876, ((0, 0), (1, 1)))
        >>> res_t = sess_from_similarities(k0.T, r, r, np.ones((1, 1)), [0.5, 0.5], [0.5, 0.5])
        >>> abs(res.score - res_t.score) < 1e-12
        True
    """
    k0 = _as_matrix(node_similarity, "node_similarity")
    n1, n2 = k0.shape
    if not np.isfinite(k0).all():
        raise ValueError("node_similarity must be finite (it holds NaN or inf)")
    rho = _as_matrix(predicate_similarity, "predicate_similarity")
    if rho.shape[0] != rho.shape[1]:
        raise ValueError(f"predicate_similarity must be square, got shape {rho.shape}")
    if not np.isfinite(rho).all():
        raise ValueError("predicate_similarity must be finite (it holds NaN or inf)")
    r1 = _relations(relations1, n1, rho.shape[0], "relations1")
    r2 = _relations(relations2, n2, rho.shape[0], "relations2")
    w1 = _importance(importance1, n1, "importance1")
    w2 = _importance(importance2, n2, "importance2")
    if global_similarity is not None:
        global_similarity = float(global_similarity)
        if not np.isfinite(global_similarity):
            raise ValueError(f"global_similarity must be finite, got {global_similarity}")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not (isinstance(iterations, int) and not isinstance(iterations, bool) and iterations >= 0):
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}")

    def combine(graph_score: float) -> float:
        if global_similarity is None:
            return graph_score
        return (1.0 - gamma) * graph_score + gamma * global_similarity

    if n1 == 0 or n2 == 0:
        graph_score = 1.0 if n1 == n2 else 0.0
        return SeSSResult(combine(graph_score), graph_score, graph_score, graph_score,
                          global_similarity, (), k0.copy())

    g1, g2 = _Neighbourhoods(r1, w1), _Neighbourhoods(r2, w2)
    if update == "jacobi":
        k = _propagate_jacobi(k0, g1, g2, rho, alpha, beta, iterations)
    else:
        k = _propagate_reference(k0, g1, g2, rho, alpha, beta, iterations)

    weighted1 = k * w1[:, None]
    s1 = float(assignment_value(weighted1) / w1.sum())
    s2 = float(assignment_value(k * w2[None, :]) / w2.sum())
    graph_score = float((n1 * s1 + n2 * s2) / (n1 + n2))
    rows, cols = assignment(weighted1)
    matches = tuple((int(i), int(j)) for i, j in zip(rows, cols))
    return SeSSResult(combine(graph_score), graph_score, s1, s2, global_similarity, matches, k)


# --------------------------------------------------------------------------- internals


def _as_matrix(a, name: str) -> np.ndarray:
    try:
        m = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if m.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {m.shape}")
    return m


def _relations(a, n: int, num_predicates: int, name: str) -> np.ndarray:
    r = np.asarray(a)
    if r.size == 0 and n == 0:
        return np.full((0, 0), -1, dtype=np.int64)
    if r.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}), got {r.shape}")
    if not np.issubdtype(r.dtype, np.integer):
        raise TypeError(f"{name} must hold integer predicate indices, got dtype {r.dtype}")
    r = r.astype(np.int64)
    bad = (r < -1) | (r >= num_predicates)
    np.fill_diagonal(bad, False)
    if bad.any():
        raise ValueError(
            f"{name} entries must be -1 (no edge) or predicate indices in [0, {num_predicates}), "
            f"got {sorted(set(r[bad].tolist()))[:5]}"
        )
    r = r.copy()
    np.fill_diagonal(r, -1)
    return r


def _importance(a, n: int, name: str) -> np.ndarray:
    w = np.asarray(a, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"{name} must have {n} entries, got {w.size}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{name} must be finite and >= 0")
    total = w.sum()
    return w / total if total > 0 else np.full(n, 1.0 / max(n, 1))


class _Neighbourhoods:
    """Out-neighbours, their predicates and their normalised weights, per node."""

    def __init__(self, relations: np.ndarray, w: np.ndarray):
        self.w = w
        self.nbrs: list[np.ndarray] = []
        self.preds: list[np.ndarray] = []
        self.share: list[np.ndarray] = []
        for u in range(relations.shape[0]):
            nbr = np.flatnonzero(relations[u] >= 0)
            self.nbrs.append(nbr)
            self.preds.append(relations[u, nbr])
            wn = w[nbr]
            total = wn.sum()
            self.share.append(wn / total if total > 0 else np.full(nbr.size, 1.0 / max(nbr.size, 1)))
        self.degree = np.array([nbr.size for nbr in self.nbrs], dtype=np.int64)


def _mix(sigma1, sigma2, wu, wv):
    total = wu + wv
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, (wu * sigma1 + wv * sigma2) / safe, 0.5 * (sigma1 + sigma2))


def _propagate_jacobi(k0, g1, g2, rho, alpha, beta, iterations) -> np.ndarray:
    empty1, empty2 = g1.degree == 0, g2.degree == 0
    sigma_fixed = (empty1[:, None] & empty2[None, :]).astype(np.float64)
    groups = []
    for n in np.unique(g1.degree[~empty1]):
        us = np.flatnonzero(g1.degree == n)
        for m in np.unique(g2.degree[~empty2]):
            vs = np.flatnonzero(g2.degree == m)
            uu, vv = np.repeat(us, vs.size), np.tile(vs, us.size)
            x = np.stack([g1.nbrs[u] for u in uu])  # (B, n)
            y = np.stack([g2.nbrs[v] for v in vv])  # (B, m)
            p = np.stack([g1.preds[u] for u in uu])
            q = np.stack([g2.preds[v] for v in vv])
            a = np.stack([g1.share[u] for u in uu])[:, :, None]
            b = np.stack([g2.share[v] for v in vv])[:, None, :]
            rho_term = alpha * rho[p[:, :, None], q[:, None, :]]
            groups.append((uu, vv, x[:, :, None], y[:, None, :], rho_term, a, b,
                           g1.w[uu], g2.w[vv]))
    k = k0.copy()
    for _ in range(iterations):
        sigma = sigma_fixed.copy()
        for uu, vv, x, y, rho_term, a, b, wu, wv in groups:
            m_ = (1.0 - alpha) * k[x, y] + rho_term
            sigma[uu, vv] = _mix(batch_assignment_value(m_ * a), batch_assignment_value(m_ * b),
                                 wu, wv)
        k = (1.0 - beta) * k + beta * sigma
    return k


def _pair_sigma(k, g1, g2, rho, alpha, u, v) -> float:
    nu, nv = g1.nbrs[u], g2.nbrs[v]
    if nu.size == 0 or nv.size == 0:
        return 1.0 if nu.size == nv.size else 0.0
    m_ = (1.0 - alpha) * k[np.ix_(nu, nv)] + alpha * rho[np.ix_(g1.preds[u], g2.preds[v])]
    sigma1 = assignment_value(m_ * g1.share[u][:, None])
    sigma2 = assignment_value(m_ * g2.share[v][None, :])
    return float(_mix(sigma1, sigma2, g1.w[u], g2.w[v]))


def _propagate_reference(k0, g1, g2, rho, alpha, beta, iterations) -> np.ndarray:
    n1, n2 = k0.shape
    k = k0.copy()
    for sweep in range(iterations):
        target = np.empty_like(k) if sweep == 0 else k  # the released code aliases after sweep 1
        for u in range(n1):
            for v in range(n2):
                sigma = _pair_sigma(k, g1, g2, rho, alpha, u, v)
                target[u, v] = (1.0 - beta) * k[u, v] + beta * sigma
        k = target
    return k
