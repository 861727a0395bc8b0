"""Adapter for the paper's scene-graph pipeline: SAM masks, Relate-Anything predicates, CLIP.

The authors build scene graphs with SAM ViT-H (``sam_vit_h_4b8939.pth``), the
Relate-Anything model (``ram_epoch12.pth``, 56 predicate classes) and OpenCLIP ViT-H-14
(several GB of weights, a GPU). None of that ships in a wheel, so msglance cannot run it
offline; this adapter lets a user who has the weights plug the pipeline in wherever a
:class:`~msglance.semantic.generator.SceneGraphGenerator` is accepted.

It is built from three callables (so each part can be swapped or mocked):

* ``mask_generator(image_uint8) -> list[dict]``: SAM's ``SamAutomaticMaskGenerator.generate``
  (dicts with a boolean ``"segmentation"`` ``(H, W)``);
* ``relation_model(image_uint8, masks) -> (relations, scores)``: the ``(n, n)`` predicate
  indices (``-1`` none) and confidences over the masks (the reference's
  ``relation_matrixs``/``score_matrixs``); run the model in **eval** mode (the released code
  leaves dropout on, so its graphs change from run to run);
* ``image_encoder(crops) -> (k, d)``: CLIP image embeddings of a list of RGB uint8 crops.

Only nodes that take part in a relation are kept (as the reference does), except that a
graph with no relation keeps its largest mask.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from msglance.semantic.generator import check_rgb_image
from msglance.semantic.importance import saliency_masses, spectral_residual_saliency
from msglance.semantic.scene_graph import Edge, Node, SceneGraph

__all__ = ["ReferenceSceneGraphGenerator"]


class ReferenceSceneGraphGenerator:
    """SAM + Relate-Anything + CLIP scene graphs from user-supplied components.

    Args:
        mask_generator: image → SAM mask dicts.
        relation_model: (image, mask dicts) → ``(relations, scores)``, both ``(n, n)``.
        image_encoder: list of crops → ``(k, d)`` embeddings.
        predicates: the predicate names the relation indices refer to.
        max_nodes: most masks passed to the relation model (largest first).
    """

    def __init__(
        self,
        mask_generator: Callable[[np.ndarray], list[dict]],
        relation_model: Callable[[np.ndarray, list[dict]], tuple[np.ndarray, np.ndarray]],
        image_encoder: Callable[[list[np.ndarray]], np.ndarray],
        predicates: Sequence[str],
        max_nodes: int = 20,
    ):
        for name, fn in (("mask_generator", mask_generator), ("relation_model", relation_model),
                         ("image_encoder", image_encoder)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.mask_generator = mask_generator
        self.relation_model = relation_model
        self.image_encoder = image_encoder
        self.predicates = tuple(predicates)
        self.max_nodes = max_nodes

    @classmethod
    def from_checkpoints(
        cls,
        sam_checkpoint: str | Path,
        clip_checkpoint: str | Path,
        relation_model: Callable[[np.ndarray, list[dict]], tuple[np.ndarray, np.ndarray]],
        predicates: Sequence[str],
        device: str = "cuda",
    ) -> ReferenceSceneGraphGenerator:
        """Build SAM ViT-H and OpenCLIP ViT-H-14 from local checkpoint files.

        The Relate-Anything model is not a package: load it with its own code and pass it
        as ``relation_model``.

        Raises:
            FileNotFoundError: a checkpoint file is absent (one line, naming it).
            ModuleNotFoundError: ``segment_anything`` or ``open_clip`` is not installed.
        """
        for what, path in (("SAM ViT-H", sam_checkpoint), ("OpenCLIP ViT-H-14", clip_checkpoint)):
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"{what} weights not found at {path}: the reference SeSS pipeline needs "
                    "local SAM, Relate-Anything and CLIP weights (msglance never downloads "
                    "them); use OfflineSceneGraphGenerator instead"
                )
        for module in ("segment_anything", "open_clip", "torch"):
            if importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(
                    f"the reference SeSS pipeline needs the {module!r} package, which is not "
                    "installed", name=module)
        import open_clip
        import torch
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry

        sam = sam_model_registry["vit_h"](checkpoint=str(sam_checkpoint)).to(device).eval()
        generate = SamAutomaticMaskGenerator(sam).generate
        model, _, preprocess = open_clip.create_model_and_transforms(
            "ViT-H-14", pretrained=str(clip_checkpoint), device=device)
        model.eval()

        def encode(crops: list[np.ndarray]) -> np.ndarray:
            from PIL import Image

            batch = torch.stack([preprocess(Image.fromarray(c)) for c in crops]).to(device)
            with torch.inference_mode():
                f = model.encode_image(batch)
            return torch.nn.functional.normalize(f, dim=-1).double().cpu().numpy()

        return cls(generate, relation_model, encode, predicates)

    def __call__(self, image: np.ndarray) -> SceneGraph:
        img = check_rgb_image(image)
        u8 = (img * 255.0 + 0.5).astype(np.uint8)
        h, w = img.shape[:2]
        found = sorted(self.mask_generator(u8), key=lambda d: -int(np.sum(d["segmentation"])))
        found = found[: self.max_nodes]
        if not found:
            return SceneGraph.create([], [], (h, w))
        relations, scores = self.relation_model(u8, found)
        relations = np.asarray(relations, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        n = len(found)
        if relations.shape != (n, n) or scores.shape != (n, n):
            raise ValueError(
                f"relation_model must return two ({n}, {n}) matrices, got {relations.shape} "
                f"and {scores.shape}")
        np.fill_diagonal(relations, -1)
        bad = relations[(relations >= len(self.predicates))]
        if bad.size:
            raise ValueError(f"relation_model returned predicate index {int(bad[0])}, but only "
                             f"{len(self.predicates)} predicates are named")
        linked = sorted(set(np.flatnonzero((relations >= 0).any(axis=0) | (relations >= 0).any(axis=1))))
        keep = linked or [0]
        masks = np.stack([np.asarray(found[k]["segmentation"], dtype=bool) for k in keep])
        crops = [u8]
        boxes = []
        for mask in masks:
            rr, cc = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            boxes.append((rr[0], cc[0], rr[-1] + 1, cc[-1] + 1))
            crops.append(u8[rr[0]:rr[-1] + 1, cc[0]:cc[-1] + 1])
        emb = np.asarray(self.image_encoder(crops), dtype=np.float64)
        if emb.shape[0] != len(crops):
            raise ValueError(f"image_encoder must return {len(crops)} rows, got {emb.shape[0]}")
        masses = saliency_masses(spectral_residual_saliency(img), masks)
        rows, cols = np.mgrid[0:h, 0:w]
        nodes = [
            Node(str(k), "", (float((rows * m).sum() / m.sum() / h), float((cols * m).sum() / m.sum() / w)),
                 (b[0] / h, b[1] / w, b[2] / h, b[3] / w), emb[i + 1], float(masses[i]), m)
            for i, (k, m, b) in enumerate(zip(keep, masks, boxes))
        ]
        edges = [Edge(str(a), str(b), self.predicates[relations[a, b]], max(float(scores[a, b]), 0.0))
                 for a in keep for b in keep if relations[a, b] >= 0]
        return SceneGraph.create(nodes, edges, (h, w), emb[0])
