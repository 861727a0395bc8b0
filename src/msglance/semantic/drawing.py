"""Scene graphs drawn over their images (for reports): nodes at centroids, labelled edges."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from msglance.extras import require
from msglance.report import save_figure, subplots
from msglance.semantic.matching import SeSSResult
from msglance.semantic.scene_graph import SceneGraph

__all__ = ["draw_graph", "plot_graph_pair"]


def draw_graph(ax, image: np.ndarray, graph: SceneGraph, title: str = "") -> None:
    """Draw ``graph`` over ``image`` on a matplotlib axis.

    Region outlines (when the nodes carry masks), one dot per node at its centroid with its
    id and label, and one arrow per edge labelled with its predicate.
    """
    img = np.asarray(image, dtype=float)
    h, w = img.shape[:2]
    ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    pos = {n.id: (n.centroid[1] * w, n.centroid[0] * h) for n in graph.nodes}
    tab10 = require("matplotlib", "data").colormaps["tab10"]
    colours = tab10(np.arange(max(len(graph.nodes), 1)) % 10)
    for node, colour in zip(graph.nodes, colours):
        if node.mask is not None and node.mask.shape == (h, w):
            ax.contour(node.mask.astype(float), levels=[0.5], colors=[colour], linewidths=0.8)
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.subject], pos[e.object]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": "white", "lw": 0.8, "alpha": 0.8})
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, e.predicate, fontsize=5, color="yellow",
                ha="center", va="center", alpha=0.9)
    for node, colour in zip(graph.nodes, colours):
        x, y = pos[node.id]
        ax.plot(x, y, "o", color=colour, markersize=5, markeredgecolor="black")
        ax.text(x, y - 0.03 * h, f"{node.id} {node.label}", fontsize=6, color="white",
                ha="center", bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0})
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def plot_graph_pair(
    path: str | os.PathLike[str],
    image1: np.ndarray,
    graph1: SceneGraph,
    image2: np.ndarray,
    graph2: SceneGraph,
    result: SeSSResult | None = None,
    title: str = "",
) -> Path:
    """Both graphs side by side (matched nodes listed under the figure) saved as PNG."""
    fig, axes = subplots(1, 2, figsize=(10, 4.6))
    draw_graph(axes[0], image1, graph1, "reference graph")
    draw_graph(axes[1], image2, graph2, "prediction graph")
    if result is not None:
        pairs = ", ".join(f"{graph1.nodes[u].id}-{graph2.nodes[v].id}" for u, v in result.matches)
        fig.text(0.5, 0.02, f"SeSS {result.score:.4f}; matched nodes {pairs}", ha="center",
                 fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.94))
    return save_figure(fig, path, dpi=100)
