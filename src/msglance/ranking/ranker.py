"""The LTRP ranker: a small ViT that scores every patch of a full image.

The image's ``L`` patch tokens (plus their fixed 2-D sin-cos positions) and a CLS token go
through ``depth`` transformer blocks; the CLS output is mapped by ``Linear(d, L)`` to one
score per patch position (the reference ``ltrp_cluster`` head). It is trained
(:func:`msglance.ranking.training.train_ranker`) so that the scores at the visible positions of
a random mask rank like the MAE's pseudo-scores; with ``asymmetric=True`` only the visible
tokens are fed during training (the reference README recipe), while inference always sees the
full image. At inference the top ``k`` scores name the patches to keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from msglance.ranking.checkpoint import Checkpointed
from msglance.ranking.patches import check_grid
from msglance.ranking.vit import ClsViT

__all__ = ["PatchRanker", "RankerConfig", "check_images_fit"]


@dataclass
class RankerConfig:
    """Sizes of a :class:`PatchRanker` (saved in checkpoints)."""

    image_size: int = 32
    patch: int = 4
    channels: int = 1
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0


def check_images_fit(images: Tensor, image_size: int, patch: int, channels: int, what: str) -> None:
    """One-line ``ValueError`` unless ``images`` is ``(N, channels, image_size, image_size)``.

    Examples:
        >>> check_images_fit(torch.zeros(1, 1, 32, 32), 32, 4, 1, "ranker")
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {shape}")
    _, c, h, w = images.shape
    check_grid(h, w, patch)
    if (h, w) != (image_size, image_size) or c != channels:
        g = image_size // patch
        raise ValueError(
            f"this {what} was trained for {channels}-channel {image_size}x{image_size} images "
            f"({g}x{g} grid of {patch}x{patch} patches), got {c}-channel {h}x{w} images "
            f"({h // patch}x{w // patch} grid); resize them or train a {what} for this grid"
        )


class PatchRanker(Checkpointed, ClsViT):
    """ViT patch ranker: ``forward(images) -> (N, L)`` scores (higher = keep).

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> ranker = PatchRanker(RankerConfig(image_size=8, patch=2, dim=16, depth=1))
        >>> tuple(ranker.rank(torch.rand(3, 1, 8, 8)).shape)
        (3, 16)
    """

    checkpoint_kind = "ranker"
    config_class = RankerConfig

    def __init__(self, config: RankerConfig | None = None):
        c = config or RankerConfig()
        super().__init__(c.image_size, c.patch, c.channels, c.dim, c.depth, c.heads, c.mlp_ratio)
        self.config = c

    def forward(self, images: Tensor, ids_keep: Tensor | None = None) -> Tensor:
        """Scores ``(N, L)``; with ``ids_keep (N, K)`` only those tokens are fed (asymmetric)."""
        return super().forward(images, ids_keep)

    @torch.no_grad()
    def rank(self, images: Tensor) -> Tensor:
        """Scores ``(N, L)`` of full images in eval mode (the model's mode is restored).

        Raises:
            ValueError: images whose size or channels do not match the ranker's grid.
        """
        c = self.config
        check_images_fit(images, c.image_size, c.patch, c.channels, "ranker")
        was_training = self.training
        self.eval()
        try:
            param = next(self.parameters())
            return self(images.to(param.device, param.dtype))
        finally:
            self.train(was_training)

