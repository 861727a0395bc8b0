"""SeSS: semantic similarity of two images by matching their scene graphs (Fan et al. 2024).

Layers, bottom up:

* :mod:`~msglance.semantic.matching` - the matching core on plain arrays
  (:func:`sess_from_similarities`), for users who bring their own features;
* :mod:`~msglance.semantic.importance` - node importance (spectral-residual saliency);
* :mod:`~msglance.semantic.scene_graph` - :class:`SceneGraph` and its JSON forms;
* :mod:`~msglance.semantic.minilm` - offline MiniLM text embeddings (predicates, labels);
* :mod:`~msglance.semantic.generator` - image → scene graph (:class:`SceneGraphGenerator`,
  :class:`OfflineSceneGraphGenerator`), built on :mod:`~.segmentation`,
  :mod:`~.region_features` and :mod:`~.predicates`;
  :mod:`~msglance.semantic.reference_generator` plugs in SAM + Relate-Anything + CLIP;
* :mod:`~msglance.semantic.score` - :func:`sess_graphs`, :func:`sess` and the registry form.
"""

from msglance.semantic.generator import OfflineSceneGraphGenerator, SceneGraphGenerator
from msglance.semantic.importance import node_importance, spectral_residual_saliency
from msglance.semantic.matching import SeSSResult, base_similarity, sess_from_similarities
from msglance.semantic.minilm import embed_texts, text_similarity
from msglance.semantic.reference_generator import ReferenceSceneGraphGenerator
from msglance.semantic.scene_graph import (
    Edge,
    Node,
    SceneGraph,
    SceneGraphError,
    read_scene_graph,
    read_visual_genome,
    write_scene_graph,
)
from msglance.semantic.score import sess, sess_graphs, sess_index

__all__ = [
    "Edge",
    "Node",
    "OfflineSceneGraphGenerator",
    "ReferenceSceneGraphGenerator",
    "SceneGraph",
    "SceneGraphError",
    "SceneGraphGenerator",
    "SeSSResult",
    "base_similarity",
    "embed_texts",
    "node_importance",
    "read_scene_graph",
    "read_visual_genome",
    "sess",
    "sess_from_similarities",
    "sess_graphs",
    "sess_index",
    "spectral_residual_saliency",
    "text_similarity",
    "write_scene_graph",
]
