"""A straightforward re-creation of how the public SeSS reference propagates similarities.

Used only as the *baseline* of ``bench_sess.py`` (never by the library): the released
``demo.py`` loop - for every sweep, every node pair, rebuild both neighbour lists, fill the
neighbour matrix element by element, scale its rows (then its columns) in Python loops and
call ``scipy.optimize.linear_sum_assignment`` twice - with the first sweep writing a new
matrix and later sweeps updating in place (the reference's ``L = L_new`` aliasing).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _mwis(matrix: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(-matrix)
    return float(matrix[rows, cols].sum())


def _neighbours(relations: np.ndarray, imp: np.ndarray, node: int):
    out, total = [], 0.0
    for i, rel in enumerate(relations[node]):
        if i != node and rel != -1:
            out.append((i, rel))
            total += imp[i]
    return out, total


def reference_style_sess(k0, rel1, rel2, rho, imp1, imp2, g, alpha=0.25, beta=0.05,
                         iterations=7, gamma=0.05) -> float:
    n1, n2 = k0.shape
    L = k0.copy()
    L_new = np.zeros((n1, n2))
    for _ in range(iterations):
        for u in range(n1):
            nb1, s1 = _neighbours(rel1, imp1, u)
            for v in range(n2):
                nb2, s2 = _neighbours(rel2, imp2, v)
                if not nb1 and not nb2:
                    L_new[u, v] = (1 - beta) * L[u, v] + beta
                    continue
                m = np.zeros((len(nb1), len(nb2)))
                for i, (x, p) in enumerate(nb1):
                    for j, (y, q) in enumerate(nb2):
                        m[i, j] = (1 - alpha) * L[x, y] + alpha * rho[p, q]
                for i, (x, _) in enumerate(nb1):
                    m[i, :] = m[i, :] * imp1[x] / s1
                a = _mwis(m)
                for i, (x, _) in enumerate(nb1):
                    m[i, :] = m[i, :] / imp1[x] * s1
                for j, (y, _) in enumerate(nb2):
                    m[:, j] = m[:, j] * imp2[y] / s2
                b = _mwis(m)
                sigma = (a * imp1[u] + b * imp2[v]) / (imp1[u] + imp2[v])
                L_new[u, v] = (1 - beta) * L[u, v] + beta * sigma
        L = L_new
    w1 = L * imp1[:, None]
    w2 = L * imp2[None, :]
    graph = (_mwis(w1) * n1 + _mwis(w2) * n2) / (n1 + n2)
    return (1 - gamma) * graph + gamma * g
