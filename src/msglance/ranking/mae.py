"""Masked autoencoder (He et al. 2022) at toy sizes, the frozen judge of LTRP's pseudo-labels.

An image is cut into ``L`` patches (:mod:`msglance.ranking.patches`); :func:`random_masking`
keeps ``K = ⌊L (1 − r)⌋`` of them (mask ratio ``r``), **sorted ascending**, so visible token
``j`` is the ``j``-th visible patch in raster order. The encoder (a ViT on the ``K`` visible
tokens plus a CLS token, fixed 2-D sin-cos positions) maps them to a latent; the lighter
decoder sees the full sequence — CLS, the encoded visible tokens at their positions and a
shared learned mask token elsewhere, plus its own sin-cos positions — and a linear predictor
outputs the ``P·P·C`` pixel values of every patch. Training minimises the mean squared error
on the masked patches of the raw pixels (no per-patch normalisation):

.. math::  \\mathcal{L} = \\frac{1}{|M|} \\sum_{l \\in M} \\frac{1}{P^2 C}
           \\lVert \\hat{x}_l - x_l \\rVert_2^2 .

``decode(..., hidden=...)`` hides some visible tokens from every decoder query (a key-padding
mask): the reference LTRP code's cheap "removal" of a patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from msglance.ranking.checkpoint import Checkpointed
from msglance.ranking.patches import check_grid, patchify
from msglance.ranking.vit import Block, PatchEmbed, gather_tokens, sincos_position_embedding

__all__ = ["MAEConfig", "MaskedAutoencoder", "random_masking", "visible_count"]


def visible_count(length: int, mask_ratio: float) -> int:
    """``K = ⌊L (1 − r)⌋`` visible patches; a ``ValueError`` if ``K < 2`` or ``r ∉ [0, 1)``.

    Examples:
        >>> visible_count(64, 0.75), visible_count(196, 0.9)
        (16, 19)
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    k = int(length * (1.0 - mask_ratio) + 1e-9)
    if k < 2:
        raise ValueError(
            f"mask_ratio={mask_ratio} leaves {k} visible patch(es) of {length}; at least 2 are "
            "needed to rank removals"
        )
    return k


def random_masking(
    n: int,
    length: int,
    mask_ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Uniformly random visible sets: ``ids_keep (n, K)`` **sorted ascending**, ``mask (n, L)``.

    ``mask[i, l]`` is ``True`` where patch ``l`` of image ``i`` is masked (hidden).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> keep, mask = random_masking(2, 8, 0.5, g)
        >>> keep.shape, bool((keep.diff(dim=1) > 0).all()), int(mask.sum())
        (torch.Size([2, 4]), True, 8)
    """
    k = visible_count(length, mask_ratio)
    noise = torch.rand(n, length, generator=generator, device=generator.device if generator else device)
    ids_keep = noise.argsort(dim=1)[:, :k].sort(dim=1).values
    if device is not None:
        ids_keep = ids_keep.to(device)
    mask = torch.ones(n, length, dtype=torch.bool, device=ids_keep.device)
    mask.scatter_(1, ids_keep, False)
    return ids_keep, mask


@dataclass
class MAEConfig:
    """Sizes of a :class:`MaskedAutoencoder` (saved in checkpoints)."""

    image_size: int = 32
    patch: int = 4
    channels: int = 1
    dim: int = 64
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 64
    decoder_depth: int = 2
    decoder_heads: int = 4
    mlp_ratio: float = 2.0


class MaskedAutoencoder(Checkpointed, nn.Module):
    """ViT masked autoencoder on ``image_size²`` images of ``channels`` channels.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> mae = MaskedAutoencoder(MAEConfig(image_size=8, patch=2, dim=16, depth=1,
        ...                                   decoder_dim=16, decoder_depth=1))
        >>> loss, pred, mask = mae(torch.rand(3, 1, 8, 8), mask_ratio=0.75)
        >>> tuple(pred.shape), int(mask[0].sum()), bool(loss > 0)
        ((3, 16, 4), 12, True)
    """

    checkpoint_kind = "mae"
    config_class = MAEConfig

    def __init__(self, config: MAEConfig | None = None):
        super().__init__()
        self.config = c = config or MAEConfig()
        self.grid = check_grid(c.image_size, c.image_size, c.patch)
        self.length = self.grid[0] * self.grid[1]
        self.patch = c.patch
        self.channels = c.channels
        patch_dim = c.patch * c.patch * c.channels
        self.embed = PatchEmbed(patch_dim, c.dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.register_buffer("pos", sincos_position_embedding(c.dim, self.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_ratio) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.decoder_embed = nn.Linear(c.dim, c.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_dim))
        dpos = torch.cat([torch.zeros(1, c.decoder_dim),
                          sincos_position_embedding(c.decoder_dim, self.grid)])
        self.register_buffer("decoder_pos", dpos[None], persistent=False)
        self.decoder_blocks = nn.ModuleList(
            Block(c.decoder_dim, c.decoder_heads, c.mlp_ratio) for _ in range(c.decoder_depth))
        self.decoder_norm = nn.LayerNorm(c.decoder_dim)
        self.predictor = nn.Linear(c.decoder_dim, patch_dim)
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def encode(self, patches: Tensor, ids_keep: Tensor) -> Tensor:
        """Latent ``(M, 1 + K', dim)`` (CLS first) of the patches ``ids_keep (M, K')``.

        ``patches`` is ``(M, L, P·P·C)`` (:func:`~msglance.ranking.patches.patchify`).
        """
        x = self.embed(gather_tokens(patches, ids_keep)) + gather_tokens(
            self.pos.expand(len(ids_keep), -1, -1), ids_keep)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def decode(self, latent: Tensor, ids_keep: Tensor, hidden: Tensor | None = None) -> Tensor:
        """Predicted patches ``(M, L, P·P·C)`` from a latent of the visible ``ids_keep``.

        ``hidden (M, K')`` (bool): visible tokens hidden from every decoder query
        (key-padding mask) — the decoder-only removal of the reference code.
        """
        m, k1, _ = latent.shape
        x = self.decoder_embed(latent)
        full = self.mask_token.expand(m, self.length, -1).clone()
        full.scatter_(1, ids_keep[..., None].expand(-1, -1, x.shape[-1]), x[:, 1:])
        x = torch.cat([x[:, :1], full], dim=1) + self.decoder_pos
        padding = None
        if hidden is not None:
            padding = torch.zeros(m, 1 + self.length, dtype=torch.bool, device=x.device)
            padding[:, 1:].scatter_(1, ids_keep, hidden)
        for blk in self.decoder_blocks:
            x = blk(x, key_padding_mask=padding)
        return self.predictor(self.decoder_norm(x))[:, 1:]

    def reconstruct(self, patches: Tensor, ids_keep: Tensor) -> Tensor:
        """``decode(encode(patches, ids_keep), ids_keep)``."""
        return self.decode(self.encode(patches, ids_keep), ids_keep)

    def forward(
        self,
        images: Tensor,
        mask_ratio: float = 0.75,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, predicted patches (N, L, P·P·C), mask (N, L))`` for a fresh random mask."""
        patches = patchify(images, self.patch)
        ids_keep, mask = random_masking(len(images), self.length, mask_ratio, generator,
                                        device=images.device)
        pred = self.reconstruct(patches, ids_keep)
        per_patch = (pred - patches).pow(2).mean(dim=-1)
        loss = (per_patch * mask).sum() / mask.sum()
        return loss, pred, mask

