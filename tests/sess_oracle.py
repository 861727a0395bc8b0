"""Slow, obviously-correct SeSS references for the tests (never imported by src/).

``sess_loop`` transcribes the released ``demo.py`` pair loop (neighbour lists, weights,
in-place aliasing after the first sweep for ``update="reference"``) with a brute-force
assignment over ``itertools.permutations`` instead of Kuhn-Munkres.
"""

from __future__ import annotations

import itertools

import numpy as np


def brute_assignment(matrix: np.ndarray) -> float:
    """max over injections of the smaller side into the larger, by enumeration."""
    matrix = np.asarray(matrix, dtype=float)
    n, m = matrix.shape
    if n == 0 or m == 0:
        return 0.0
    if n > m:
        matrix, n, m = matrix.T, m, n
    return max(sum(matrix[i, cols[i]] for i in range(n))
               for cols in itertools.permutations(range(m), n))


def _neighbours(relations, node):
    return [(i, int(r)) for i, r in enumerate(relations[node]) if i != node and r != -1]


def sess_loop(k0, rel1, rel2, rho, w1, w2, g=None, alpha=0.25, beta=0.05, iterations=7,
              gamma=0.05, update="jacobi"):
    """The released algorithm, one pair at a time."""
    w1 = np.asarray(w1, float) / np.sum(w1)
    w2 = np.asarray(w2, float) / np.sum(w2)
    n1, n2 = k0.shape
    k = np.array(k0, dtype=float)
    for sweep in range(iterations):
        new = np.zeros_like(k) if (update == "jacobi" or sweep == 0) else k
        for u in range(n1):
            nb1 = _neighbours(rel1, u)
            for v in range(n2):
                nb2 = _neighbours(rel2, v)
                if not nb1 and not nb2:
                    sigma = 1.0
                elif not nb1 or not nb2:
                    sigma = 0.0
                else:
                    W1 = sum(w1[x] for x, _ in nb1)
                    W2 = sum(w2[y] for y, _ in nb2)
                    m = np.array([[(1 - alpha) * k[x, y] + alpha * rho[p, q] for y, q in nb2]
                                  for x, p in nb1])
                    a = np.array([[m[i, j] * w1[x] / W1 for j in range(len(nb2))]
                                  for i, (x, _) in enumerate(nb1)])
                    b = np.array([[m[i, j] * w2[y] / W2 for j, (y, _) in enumerate(nb2)]
                                  for i in range(len(nb1))])
                    s1, s2 = brute_assignment(a), brute_assignment(b)
                    sigma = (s1 * w1[u] + s2 * w2[v]) / (w1[u] + w2[v])
                new[u, v] = (1 - beta) * k[u, v] + beta * sigma
        k = new
    s1 = brute_assignment(k * w1[:, None])
    s2 = brute_assignment(k * w2[None, :])
    graph = (n1 * s1 + n2 * s2) / (n1 + n2)
    return graph if g is None else (1 - gamma) * graph + gamma * g


def chain_score(k0, rho_pq, alpha=0.25, beta=0.05, iterations=7):
    """Two-node chains a -> b vs a' -> b' (predicates p, q), by the scalar recursion.

    Pairs: (a, a') both have one neighbour (b, b'): sigma = (1-α) K(b, b') + α ρ(p, q);
    (b, b') both have none: sigma = 1; the mixed pairs: sigma = 0. With equal importances
    the final score is the best 2x2 assignment of K_T / 2, for both weightings.
    """
    kaa, kab, kba, kbb = k0[0, 0], k0[0, 1], k0[1, 0], k0[1, 1]
    for _ in range(iterations):
        sigma_aa = (1 - alpha) * kbb + alpha * rho_pq
        kaa, kab, kba, kbb = ((1 - beta) * kaa + beta * sigma_aa, (1 - beta) * kab,
                              (1 - beta) * kba, (1 - beta) * kbb + beta)
    return max(kaa + kbb, kab + kba) / 2
