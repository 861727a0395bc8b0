"""SeSS: semantic similarity of two images by matching their scene graphs (Fan et al. 2024).

Layers, bottom up:

* :mod:`~msglance.semantic.matching` - the matching core on plain arrays
  (:func:`sess_from_similarities`), for users who bring their own features;
* :mod:`~msglance.semantic.importance` - node importance (spectral-residual saliency);
* :mod:`~msglance.semantic.scene_graph` - :class:`SceneGraph` and its JSON forms.
"""

from msglance.semantic.importance import node_importance, spectral_residual_saliency
from msglance.semantic.matching import SeSSResult, base_similarity, sess_from_similarities
from msglance.semantic.scene_graph import (
    Edge,
    Node,
    SceneGraph,
    SceneGraphError,
    read_scene_graph,
    read_visual_genome,
    write_scene_graph,
)

__all__ = [
    "Edge",
    "Node",
    "SceneGraph",
    "SceneGraphError",
    "SeSSResult",
    "base_similarity",
    "node_importance",
    "read_scene_graph",
    "read_visual_genome",
    "sess_from_similarities",
    "spectral_residual_saliency",
    "write_scene_graph",
]
