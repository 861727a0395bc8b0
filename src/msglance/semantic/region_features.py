"""Region and whole-image embeddings and labels from the offline EfficientNet-Lite0.

The stand-in for the reference's OpenCLIP ViT-H-14 image encoder. For each region mask:

1. crop the mask's bounding box from the RGB image in [0, 1];
2. paint the crop's pixels outside the mask with the network's neutral input (RGB 127/255,
   i.e. 0 after :func:`msglance.metrics.effnet.preprocess`), so overlapping boxes of
   different regions do not see the same content (the reference crops the box as it is);
3. resize to ``size × size`` (bilinear, antialiased) and take EfficientNet-Lite0's pooled
   1280-d head activations (:meth:`EfficientNetLite0.pooled_features`) as the embedding and
   the ImageNet top-1 class as the label.

The whole image, resized the same way, gives the global embedding that ``G`` compares.
ImageNet class names (torchvision's list, BSD-3-Clause) ship in ``imagenet_classes.txt``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from msglance.metrics.effnet import load_efficientnet_lite0, preprocess

__all__ = ["RegionFeatures", "embed_regions", "imagenet_classes", "resize_image"]

_NEUTRAL = 127.0 / 255.0


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in the classifier's index order.

    Examples:
        >>> names = imagenet_classes()
        >>> len(names), names[0], names[207]
        (1000, 'tench', 'golden retriever')
    """
    text = (Path(__file__).parent / "imagenet_classes.txt").read_text()
    names = tuple(line for line in text.splitlines() if line)
    if len(names) != 1000:
        raise RuntimeError(f"imagenet_classes.txt must list 1000 classes, found {len(names)}")
    return names


@dataclass(frozen=True)
class RegionFeatures:
    """What :func:`embed_regions` computed.

    Attributes:
        embeddings: ``(n, 1280)`` region embeddings.
        labels: ImageNet top-1 class name of each region.
        confidences: ``(n,)`` softmax probability of that class.
        global_embedding: ``(1280,)`` embedding of the whole image.
    """

    embeddings: np.ndarray
    labels: tuple[str, ...]
    confidences: np.ndarray
    global_embedding: np.ndarray


def embed_regions(
    image: np.ndarray,
    masks: np.ndarray,
    size: int = 224,
    device: str | torch.device = "cpu",
) -> RegionFeatures:
    """Embeddings and ImageNet labels of each masked region and of the whole image.

    Args:
        image: ``(H, W, 3)`` RGB (or ``(H, W)`` grey) in [0, 1].
        masks: ``(n, H, W)`` boolean region masks (non-empty).
        size: side the crops are resized to.
        device: where EfficientNet-Lite0 runs.

    Examples:
        >>> import numpy as np
        >>> img = np.random.default_rng(0).random((64, 64, 3))
        >>> masks = np.zeros((2, 64, 64), bool); masks[0, :, :32] = True; masks[1, :, 32:] = True
        >>> feats = embed_regions(img, masks, size=64)
        >>> feats.embeddings.shape, len(feats.labels), feats.global_embedding.shape
        ((2, 1280), 2, (1280,))
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[1:] != img.shape[:2]:
        raise ValueError(f"masks must be (n, H, W) with (H, W) = {img.shape[:2]}, got {masks.shape}")
    if not (isinstance(size, int) and size >= 32):
        raise ValueError(f"size must be an integer >= 32, got {size!r}")
    crops = [resize_image(img, (size, size))]
    for k, mask in enumerate(masks):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            raise ValueError(f"masks[{k}] is empty")
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = img[r0:r1, c0:c1].copy()
        crop[~mask[r0:r1, c0:c1]] = _NEUTRAL
        crops.append(resize_image(crop, (size, size)))
    model = load_efficientnet_lite0(device)
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).to(torch.device(device))
    with torch.inference_mode():
        pooled = model.pooled_features(preprocess(batch))
        probs = torch.softmax(model.classify(pooled), dim=-1)
    conf, top = probs.max(dim=-1)
    names = imagenet_classes()
    emb = pooled.double().cpu().numpy()
    return RegionFeatures(emb[1:], tuple(names[i] for i in top[1:].tolist()),
                          conf[1:].double().cpu().numpy(), emb[0])


def resize_image(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear, antialiased resize of an ``(H, W, 3)`` image in [0, 1] to ``shape`` ``(h, w)``.

    Examples:
        >>> import numpy as np
        >>> resize_image(np.ones((10, 20, 3), np.float32), (5, 8)).shape
        (5, 8, 3)
    """
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False,
                        antialias=True)
    return out[0].permute(1, 2, 0).clamp(0.0, 1.0).numpy()
