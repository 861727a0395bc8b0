"""Time the SeSS matching core and the offline image -> scene-graph pipeline.

1. Matching core: two random 30-node, 60-edge graphs (8 predicates), ``sess_from_similarities``
   (``update="jacobi"`` and ``"reference"``) against the per-pair Python loop of the released
   code (``sess_reference_style.py``) in the same run; prints best-of-N times and the ratio.
   The reference-style value must equal our ``update="reference"`` value (checked).
2. Image -> graph: ``OfflineSceneGraphGenerator`` on the embedded ``natural`` photos at 256²,
   mean seconds per image (after a warm-up image), split into its stages.

    python benchmarks/bench_sess.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from sess_reference_style import reference_style_sess  # noqa: E402

from msglance.semantic.matching import sess_from_similarities  # noqa: E402


def random_graph_pair(n: int, edges: int, predicates: int, seed: int):
    rng = np.random.default_rng(seed)

    def relations():
        r = np.full((n, n), -1, dtype=np.int64)
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        for idx in rng.choice(len(pairs), size=edges, replace=False):
            r[pairs[idx]] = rng.integers(predicates)
        return r

    a = rng.uniform(0, 1, (predicates, predicates))
    rho = (a + a.T) / 2
    np.fill_diagonal(rho, 1.0)
    w1, w2 = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, n)
    return (rng.uniform(0, 1, (n, n)), relations(), relations(), rho, w1 / w1.sum(),
            w2 / w2.sum(), float(rng.uniform(0, 1)))


def best_of(fn, repeats: int) -> tuple[float, object]:
    value = fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return best, value


def bench_matching(repeats: int) -> list[str]:
    k0, r1, r2, rho, w1, w2, g = random_graph_pair(30, 60, 8, seed=0)
    t_j, v_j = best_of(lambda: sess_from_similarities(k0, r1, r2, rho, w1, w2, g).score, repeats)
    t_r, v_r = best_of(lambda: sess_from_similarities(k0, r1, r2, rho, w1, w2, g,
                                                      update="reference").score, repeats)
    t_loop, v_loop = best_of(lambda: reference_style_sess(k0, r1, r2, rho, w1, w2, g),
                             max(1, repeats // 2))
    assert abs(v_loop - v_r) < 1e-12, (v_loop, v_r)
    return [
        "| matching, 30 nodes / 60 edges | ms | value | loop / this |",
        "|---|---|---|---|",
        f"| reference-style per-pair loop | {1e3 * t_loop:.1f} | {v_loop:.6f} | 1.00x |",
        f"| ours, update='reference' | {1e3 * t_r:.1f} | {v_r:.6f} | {t_loop / t_r:.2f}x |",
        f"| ours, update='jacobi' (default) | {1e3 * t_j:.1f} | {v_j:.6f} | {t_loop / t_j:.2f}x |",
    ]


def bench_pipeline() -> list[str]:
    from msglance.data import load_dataset
    from msglance.semantic.generator import OfflineSceneGraphGenerator
    from msglance.semantic.importance import saliency_masses, spectral_residual_saliency
    from msglance.semantic.predicates import geometric_relations
    from msglance.semantic.region_features import embed_regions
    from msglance.semantic.segmentation import segment_regions

    photos = [s.image if s.image.ndim == 3 else np.repeat(s.image[:, :, None], 3, 2)
              for s in load_dataset("natural", size=256)]
    gen = OfflineSceneGraphGenerator()
    gen(photos[0])  # warm-up: weights, first-call overheads
    stages = {"segmentation": 0.0, "region features": 0.0, "saliency": 0.0, "predicates": 0.0}
    total, nodes = 0.0, []
    for img in photos:
        t = time.perf_counter()
        g = gen(img)
        total += time.perf_counter() - t
        nodes.append(len(g.nodes))
        t = time.perf_counter()
        masks = segment_regions(img)
        stages["segmentation"] += time.perf_counter() - t
        t = time.perf_counter()
        embed_regions(img, masks)
        stages["region features"] += time.perf_counter() - t
        t = time.perf_counter()
        saliency_masses(spectral_residual_saliency(img), masks)
        stages["saliency"] += time.perf_counter() - t
        t = time.perf_counter()
        geometric_relations(masks)
        stages["predicates"] += time.perf_counter() - t
    n = len(photos)
    rows = [
        f"| image -> graph, 256x256 ({n} photos, mean {np.mean(nodes):.1f} nodes) | s / image |",
        "|---|---|",
        f"| OfflineSceneGraphGenerator, total | {total / n:.3f} |",
    ]
    rows += [f"| stage: {k} | {v / n:.3f} |" for k, v in stages.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# SeSS speed: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.threads} torch thread(s), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print()
    print("\n".join(bench_matching(args.repeats)))
    print()
    print("\n".join(bench_pipeline()))


if __name__ == "__main__":
    main()
