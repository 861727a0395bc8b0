"""Scene graphs of ``msglance eval`` items: written as JSON, drawn for the worst pairs.

Both use :func:`msglance.semantic.score.tensor_graphs`, whose cache holds the graphs the
``sess`` scores were computed from, so nothing is segmented twice.
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import Tensor

from msglance.semantic.drawing import plot_graph_pair
from msglance.semantic.scene_graph import write_scene_graph
from msglance.semantic.score import default_generator, sess_graphs, tensor_graphs

__all__ = ["item_file_stem", "plot_item_graphs", "write_item_graphs"]


def item_file_stem(name: str) -> str:
    """A file-name-safe stem for an item name (``a/b.png[3]`` → ``a__b.png_3``).

    Examples:
        >>> item_file_stem("sub/img.png[3]")
        'sub__img.png_3'
    """
    stem = name.replace("/", "__").replace("\\", "__")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "item"


def write_item_graphs(folder: Path, name: str, ref: Tensor, pred: Tensor,
                      data_range: float) -> tuple[Path, Path]:
    """Write ``<stem>.ref.graph.json`` and ``<stem>.pred.graph.json`` for one item.

    ``ref`` and ``pred`` are ``(C, H, W)`` with ``C`` 1 or 3, scaled by ``data_range``.
    """
    g_ref, g_pred = tensor_graphs(ref, pred, data_range)
    stem = item_file_stem(name)
    return (write_scene_graph(g_ref, Path(folder) / f"{stem}.ref.graph.json"),
            write_scene_graph(g_pred, Path(folder) / f"{stem}.pred.graph.json"))


def plot_item_graphs(path: Path, name: str, ref: Tensor, pred: Tensor, data_range: float) -> Path:
    """Both graphs of one item drawn over the images, with the SeSS and the matches."""
    g_ref, g_pred = tensor_graphs(ref, pred, data_range)
    result = sess_graphs(g_ref, g_pred)

    def shown(t: Tensor):
        return (t.detach().float().cpu() / data_range).clamp(0, 1).permute(1, 2, 0).numpy()

    prepare = default_generator(str(ref.device)).prepare  # the image the masks refer to
    return plot_graph_pair(path, prepare(shown(ref)), g_ref, prepare(shown(pred)), g_pred, result,
                           f"{name}: scene graphs")
