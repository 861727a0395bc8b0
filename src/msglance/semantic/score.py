r"""SeSS of two scene graphs or two images; the registry's tensor form.

For graphs ``g1``, ``g2`` (:class:`~msglance.semantic.scene_graph.SceneGraph`):

* base similarity ``K₀(u, v) = (1-θ) cos(f_u, f_v) + θ (1 - ½‖c_u - c_v‖²)``, where ``f`` is
  the node embedding (``features="embedding"``) or the MiniLM embedding of the node label
  (``features="label"``; ``"auto"`` uses embeddings when every node of both graphs has one);
* predicate similarity ``ρ`` = MiniLM text cosine of the predicate strings;
* importance :func:`~msglance.semantic.importance.node_importance` of the nodes' saliency
  masses (fallbacks: box areas, then uniform) and the edge confidences;
* ``G`` = cosine of the two global embeddings when both graphs have one (else no ``G``);

then :func:`~msglance.semantic.matching.sess_from_similarities`.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor

from msglance.semantic.generator import (
    OfflineSceneGraphGenerator,
    SceneGraphGenerator,
    check_rgb_image,
)
from msglance.semantic.importance import node_importance
from msglance.semantic.matching import (
    ALPHA,
    BETA,
    GAMMA,
    ITERATIONS,
    THETA,
    SeSSResult,
    base_similarity,
    cosine_matrix,
    sess_from_similarities,
)
from msglance.semantic.minilm import embed_texts, text_similarity
from msglance.semantic.scene_graph import SceneGraph
from msglance.validation import as_data_range, check_data_range, check_pair, check_reduction, reduce

__all__ = [
    "FEATURES",
    "default_generator",
    "graph_importance",
    "image_graph",
    "sess",
    "sess_graphs",
    "sess_index",
    "tensor_graphs",
]

FEATURES = ("auto", "embedding", "label")


def graph_importance(graph: SceneGraph) -> np.ndarray:
    """Node importances of ``graph``: saliency masses, else box areas, else uniform.

    Examples:
        >>> from msglance.semantic.scene_graph import Node, SceneGraph
        >>> g = SceneGraph.create([Node("a", "sky", (0.2, 0.5), saliency=4.0),
        ...                        Node("b", "sea", (0.8, 0.5), saliency=4.0)])
        >>> graph_importance(g).tolist()
        [0.5, 0.5]
    """
    nodes = graph.nodes
    if nodes and all(n.saliency is not None for n in nodes):
        masses = np.array([n.saliency for n in nodes])
    elif nodes and all(n.box is not None for n in nodes):
        masses = np.array([(n.box[2] - n.box[0]) * (n.box[3] - n.box[1]) for n in nodes])
    else:
        masses = np.ones(len(nodes))
    return node_importance(masses, graph.confidence_matrix())


def _features(graph: SceneGraph, kind: str) -> np.ndarray:
    if kind == "label":
        return embed_texts([n.label for n in graph.nodes])
    return np.stack([np.asarray(n.embedding, dtype=np.float64) for n in graph.nodes])


def sess_graphs(
    graph1: SceneGraph,
    graph2: SceneGraph,
    *,
    features: str = "auto",
    theta: float = THETA,
    alpha: float = ALPHA,
    beta: float = BETA,
    iterations: int = ITERATIONS,
    gamma: float = GAMMA,
    update: str = "jacobi",
) -> SeSSResult:
    """SeSS of two scene graphs (see the module docstring).

    Examples:
        >>> from msglance.semantic.scene_graph import Edge, Node, SceneGraph
        >>> g = SceneGraph.create([Node("m", "man", (0.4, 0.4)), Node("h", "horse", (0.7, 0.5))],
        ...                       [Edge("m", "h", "riding")])
        >>> sess_graphs(g, g).score
        1.0
    """
    for name, g in (("graph1", graph1), ("graph2", graph2)):
        if not isinstance(g, SceneGraph):
            raise TypeError(f"{name} must be a SceneGraph, got {type(g).__name__}")
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    nodes = graph1.nodes + graph2.nodes
    if features == "auto":
        features = "embedding" if nodes and all(n.embedding is not None for n in nodes) else "label"
    if features == "embedding":
        missing = [n.id for n in nodes if n.embedding is None]
        if missing:
            raise ValueError(f"features='embedding' but node {missing[0]!r} has no embedding")
    n1, n2 = len(graph1.nodes), len(graph2.nodes)
    if n1 and n2:
        f1, f2 = _features(graph1, features), _features(graph2, features)
        if f1.shape[1] != f2.shape[1]:
            raise ValueError(
                f"graph1 and graph2 node embeddings differ in length ({f1.shape[1]} vs "
                f"{f2.shape[1]}); they must come from the same encoder"
            )
        k0 = base_similarity(f1, f2, graph1.centroids(), graph2.centroids(), theta)
    else:
        k0 = np.zeros((n1, n2))
    vocabulary = list(dict.fromkeys(graph1.predicates + graph2.predicates))
    rho = text_similarity(vocabulary) if vocabulary else np.ones((1, 1))  # (no edge: unused)
    glob = None
    if graph1.global_embedding is not None and graph2.global_embedding is not None:
        a, b = graph1.global_embedding, graph2.global_embedding
        if a.shape != b.shape:
            raise ValueError(
                f"graph1 and graph2 global embeddings differ in length ({a.size} vs {b.size})")
        glob = float(cosine_matrix(a[None], b[None])[0, 0])
    return sess_from_similarities(
        k0, graph1.relation_matrix(vocabulary), graph2.relation_matrix(vocabulary), rho,
        graph_importance(graph1), graph_importance(graph2), glob,
        alpha=alpha, beta=beta, iterations=iterations, gamma=gamma, update=update,
    )


@functools.lru_cache(maxsize=4)
def default_generator(device: str = "cpu") -> OfflineSceneGraphGenerator:
    """The shared :class:`OfflineSceneGraphGenerator` with default settings, per device."""
    return OfflineSceneGraphGenerator(device=device)


def sess(
    image1: np.ndarray,
    image2: np.ndarray,
    generator: SceneGraphGenerator | None = None,
    **options,
) -> SeSSResult:
    """SeSS of two RGB (or grey) images in [0, 1], through a scene-graph generator.

    ``options`` go to :func:`sess_graphs`. The default generator is
    :class:`OfflineSceneGraphGenerator` (offline approximation of SAM + RAM + CLIP).

    Examples:
        >>> from skimage import data
        >>> img = data.astronaut()[::4, ::4] / 255.0
        >>> sess(img, img).score
        1.0
    """
    gen = default_generator() if generator is None else generator
    g1 = gen(check_rgb_image(image1, "image1"))
    g2 = gen(check_rgb_image(image2, "image2"))
    return sess_graphs(g1, g2, **options)


def sess_index(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    """SeSS per item of two ``(B, C, H, W)`` batches (``C`` 1 or 3), the registry's form.

    Not differentiable (segmentation and assignment are discrete); higher is better, 1 for
    identical images. Values are scaled by ``data_range`` to [0, 1] (and clipped there when
    ``check_range=False``). An item whose prediction holds NaN or inf scores NaN (with
    ``check_range=True`` it is an error), the library's non-finite policy.

    Examples:
        >>> import torch
        >>> from skimage import data
        >>> x = torch.from_numpy(data.astronaut()[::4, ::4] / 255.0).permute(2, 0, 1)[None].float()
        >>> float(sess_index(x, x))
        1.0
    """
    check_pair(x, y, ndims=(4,))
    check_reduction(reduction)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"sess needs 1 (grey) or 3 (RGB) channels, got shape {tuple(x.shape)}")
    data_range = as_data_range(data_range)
    if check_range:
        check_data_range(x, data_range, "x")
        check_data_range(y, data_range, "y")
    values = []
    for xi, yi in zip(x, y):
        if not bool(torch.isfinite(xi).all()):  # the non-finite policy: NaN, never a number
            values.append(float("nan"))
            continue
        gx, gy = tensor_graphs(xi, yi, data_range)
        values.append(sess_graphs(gy, gx).score)
    return reduce(torch.tensor(values, dtype=torch.float64), reduction).to(x.dtype)


_GRAPH_CACHE: OrderedDict[tuple, SceneGraph] = OrderedDict()
_GRAPH_CACHE_SIZE = 64


def image_graph(image: np.ndarray, device: str = "cpu") -> SceneGraph:
    """The :func:`default_generator` graph of an RGB image in [0, 1], cached by content.

    The last 64 graphs are kept (keyed by a hash of the pixels), so that e.g.
    ``msglance eval --save-graphs`` writes the graphs the scores were computed from without
    building them twice.
    """
    img = check_rgb_image(image)
    key = (hashlib.sha1(img.tobytes()).hexdigest(), img.shape, device)
    if key in _GRAPH_CACHE:
        _GRAPH_CACHE.move_to_end(key)
        return _GRAPH_CACHE[key]
    graph = default_generator(device)(img)
    _GRAPH_CACHE[key] = graph
    while len(_GRAPH_CACHE) > _GRAPH_CACHE_SIZE:
        _GRAPH_CACHE.popitem(last=False)
    return graph


def tensor_graphs(x: Tensor, y: Tensor, data_range: float = 1.0) -> tuple[SceneGraph, SceneGraph]:
    """Graphs of two ``(C, H, W)`` images (``C`` 1 or 3) scaled by ``data_range`` to [0, 1]."""
    out = []
    for t in (x, y):
        a = (t.detach().float().cpu() / data_range).clamp(0, 1).permute(1, 2, 0).numpy()
        out.append(image_graph(a, str(t.device)))
    return out[0], out[1]
