"""A small ViT classifier that runs on any subset of an image's patch tokens.

``forward(images, ids)`` embeds the patches ``ids (N, k)`` (with their fixed 2-D sin-cos
positions), prepends a CLS token and classifies from the CLS output: trained on all
tokens with labels it is the *supervised* selector's backbone (its last-layer CLS attention,
:meth:`TokenClassifier.cls_attention`, and its input gradients); trained and tested on the
kept tokens of a selector it is the downstream judge of the selector (the LTRP paper's
protocol) and the token-sparsified ViT of the study (its cost grows with ``k``, not ``L``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from msglance.ranking.checkpoint import Checkpointed
from msglance.ranking.vit import ClsViT

__all__ = ["ClassifierConfig", "TokenClassifier"]


@dataclass
class ClassifierConfig:
    """Sizes of a :class:`TokenClassifier` (saved in checkpoints)."""

    image_size: int = 32
    patch: int = 4
    channels: int = 1
    classes: int = 10
    dim: int = 64
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 2.0


class TokenClassifier(Checkpointed, ClsViT):
    """ViT classifier on kept tokens: ``forward(images, ids=None) -> (N, classes)`` logits.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> clf = TokenClassifier(ClassifierConfig(image_size=8, patch=2, classes=3, dim=16, depth=1))
        >>> x = torch.rand(2, 1, 8, 8)
        >>> tuple(clf(x).shape), tuple(clf(x, torch.tensor([[0, 5], [3, 9]])).shape)
        ((2, 3), (2, 3))
        >>> tuple(clf.cls_attention(x).shape)
        (2, 16)
    """

    checkpoint_kind = "classifier"
    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig | None = None):
        c = config or ClassifierConfig()
        super().__init__(c.image_size, c.patch, c.channels, c.dim, c.depth, c.heads,
                         c.mlp_ratio, out_features=c.classes)
        self.config = c

    def cls_attention(self, images: Tensor) -> Tensor:
        """Last block's attention of CLS to each patch, averaged over heads: ``(N, L)``."""
        x = self.tokens(images)
        for blk in self.blocks[:-1]:
            x = blk(x)
        return self.blocks[-1].attention(x)[:, :, 0, 1:].mean(dim=1)

