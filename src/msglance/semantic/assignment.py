"""Maximum-weight bipartite assignment, one matrix or a batch of equal-shaped ones.

For a weight matrix ``A`` of shape ``(n, m)`` the value is

.. math::
    \\operatorname{assign}(A) = \\max_{\\pi} \\sum_{i} A_{i, \\pi(i)},

over the injections ``π`` of the smaller side into the larger one (rectangular allowed; every
row is matched when ``n <= m``, every column when ``n > m``). This is what the SeSS reference
computes with Kuhn-Munkres (``scipy.optimize.linear_sum_assignment`` on ``-A``).

Scene-graph neighbourhoods are small (a handful of out-edges per node), so for batches of
small matrices the maximum is taken exactly over all injections at once (NumPy, no Python
loop per matrix); larger ones go through ``linear_sum_assignment`` one by one. Both are exact.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["BRUTE_FORCE_LIMIT", "assignment", "assignment_value", "batch_assignment_value"]

#: largest number of injections enumerated at once (``m! / (m - n)!``); beyond, Kuhn-Munkres
BRUTE_FORCE_LIMIT = 720


def assignment(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a maximum-weight assignment of ``matrix`` (Kuhn-Munkres).

    Examples:
        >>> import numpy as np
        >>> rows, cols = assignment(np.array([[1.0, 2.0], [3.0, 1.0]]))
        >>> rows.tolist(), cols.tolist()
        ([0, 1], [1, 0])
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    if matrix.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return rows.astype(np.int64), cols.astype(np.int64)


def assignment_value(matrix: np.ndarray) -> float:
    """``max_π Σ_i A[i, π(i)]`` (0 for an empty matrix), summed in row order.

    Examples:
        >>> import numpy as np
        >>> assignment_value(np.array([[1.0, 2.0], [3.0, 1.0]]))
        5.0
        >>> assignment_value(np.zeros((0, 3)))
        0.0
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    rows, cols = assignment(matrix)
    return float(matrix[rows, cols].sum()) if rows.size else 0.0


@functools.lru_cache(maxsize=64)
def _injections(n: int, m: int) -> np.ndarray:
    """All injections of ``n`` rows into ``m >= n`` columns, shape ``(count, n)``."""
    return np.array(list(itertools.permutations(range(m), n)), dtype=np.int64).reshape(-1, n)


def _injection_count(n: int, m: int) -> int:
    count = 1
    for k in range(m - n + 1, m + 1):
        count *= k
    return count


def batch_assignment_value(matrices: np.ndarray) -> np.ndarray:
    """:func:`assignment_value` of each matrix of a ``(B, n, m)`` batch, shape ``(B,)``.

    Exact enumeration of the injections when there are at most :data:`BRUTE_FORCE_LIMIT`,
    else Kuhn-Munkres per matrix.

    Examples:
        >>> import numpy as np
        >>> batch_assignment_value(np.array([[[1.0, 2.0], [3.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]))
        array([5., 2.])
    """
    matrices = np.asarray(matrices, dtype=np.float64)
    if matrices.ndim != 3:
        raise ValueError(f"matrices must be a (B, n, m) batch, got shape {matrices.shape}")
    batch, n, m = matrices.shape
    if n == 0 or m == 0:
        return np.zeros(batch)
    if n > m:
        matrices = matrices.transpose(0, 2, 1)
        n, m = m, n
    if _injection_count(n, m) > BRUTE_FORCE_LIMIT:
        return np.array([assignment_value(a) for a in matrices])
    cols = _injections(n, m)  # (C, n)
    picked = matrices[:, np.arange(n)[None, :], cols]  # (B, C, n)
    return picked.sum(axis=-1).max(axis=-1)
