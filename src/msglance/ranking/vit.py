"""Vision-transformer building blocks shared by the MAE, the ranker and the token classifier.

* :func:`sincos_position_embedding` — the fixed 2-D sin-cos positions of MAE (He et al. 2022):
  half of the ``d`` channels encode the grid row, half the column, each as
  ``[sin(p ω_j), cos(p ω_j)]`` with ``ω_j = 10000^{-j/(d/4)}``, ``j = 0 … d/4 − 1``.
* :class:`Attention` — multi-head self-attention
  ``softmax(Q Kᵀ / √d_h + M) V`` where ``M`` is ``−∞`` at hidden (query, key) pairs:
  ``key_padding_mask`` ``(B, T)`` (``True`` = this key is hidden from every query) and/or a
  boolean ``attn_mask`` ``(B, T, T)`` or ``(T, T)`` (``True`` = hidden pair). It can return the
  attention weights (for CLS-attention saliency).
* :class:`Block` — pre-norm transformer block ``x + Attn(LN x)``, then ``x + MLP(LN x)``.
* :class:`PatchEmbed` — a linear map of flattened patches (:func:`~msglance.ranking.patches.patchify`).
* :class:`ClsViT` — CLS token + embedded patches (fixed positions) → blocks → LayerNorm →
  a linear head on CLS; the ranker (``L`` outputs) and the token classifier (one per class).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.ranking.patches import check_grid, patchify

__all__ = ["Attention", "Block", "PatchEmbed", "gather_tokens", "sincos_position_embedding"]


def sincos_position_embedding(dim: int, grid: tuple[int, int]) -> Tensor:
    """Fixed 2-D sin-cos embedding ``(L, dim)`` for a ``grid = (rows, cols)`` in raster order.

    ``dim`` must be a multiple of 4.

    Examples:
        >>> e = sincos_position_embedding(8, (2, 3))
        >>> tuple(e.shape), float(e[0, 1])  # row 0, column 0: cos(0) = 1
        ((6, 8), 1.0)
    """
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4 for a 2-D sin-cos embedding, got {dim}")
    rows, cols = grid
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    r = torch.arange(rows, dtype=torch.float64).repeat_interleave(cols)
    c = torch.arange(cols, dtype=torch.float64).repeat(rows)

    def enc(p: Tensor) -> Tensor:
        a = p[:, None] * omega[None]
        return torch.stack([a.sin(), a.cos()], dim=-1).reshape(len(p), -1)

    return torch.cat([enc(r), enc(c)], dim=1).float()


class Attention(nn.Module):
    """Multi-head self-attention with key-padding and explicit boolean masks.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> att = Attention(8, heads=2)
        >>> y, w = att(torch.rand(1, 3, 8), return_attention=True)
        >>> tuple(y.shape), tuple(w.shape), round(float(w.detach().sum(-1).mean()), 4)
        ((1, 3, 8), (1, 2, 3, 3), 1.0)
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        return_attention: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        hidden = None
        if key_padding_mask is not None:
            hidden = key_padding_mask[:, None, None, :].expand(b, 1, t, t)
        if attn_mask is not None:
            m = attn_mask if attn_mask.ndim == 3 else attn_mask[None]
            m = m[:, None].expand(b, 1, t, t)
            hidden = m if hidden is None else hidden | m
        if not return_attention:  # fused kernel: the (T, T) weights are never stored
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None if hidden is None else ~hidden)
            return self.proj(y.transpose(1, 2).reshape(b, t, d)), None
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)  # (B, h, T, T)
        if hidden is not None:
            logits = logits.masked_fill(hidden, float("-inf"))
        weights = logits.softmax(dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y), weights


class Block(nn.Module):
    """Pre-norm transformer block (attention + GELU MLP of width ``mlp_ratio · dim``).

    Examples:
        >>> blk = Block(8, heads=2)
        >>> tuple(blk(torch.rand(2, 5, 8)).shape)
        (2, 5, 8)
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor:
        a, _ = self.attn(self.norm1(x), key_padding_mask, attn_mask)
        x = x + a
        return x + self.mlp(self.norm2(x))

    def attention(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """The attention weights ``(B, heads, T, T)`` this block would use on ``x``."""
        _, w = self.attn(self.norm1(x), key_padding_mask, None, return_attention=True)
        assert w is not None
        return w


class PatchEmbed(nn.Module):
    """Linear embedding of flattened patches ``(N, L', P·P·C) -> (N, L', dim)``.

    Examples:
        >>> tuple(PatchEmbed(12, 8)(torch.rand(2, 5, 12)).shape)
        (2, 5, 8)
    """

    def __init__(self, patch_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(patch_dim, dim)

    def forward(self, patches: Tensor) -> Tensor:
        return self.proj(patches)


def gather_tokens(tokens: Tensor, index: Tensor) -> Tensor:
    """``tokens[n, index[n, j]]``: ``(N, L, D)`` and ``(N, K)`` -> ``(N, K, D)``.

    Examples:
        >>> t = torch.arange(6.).reshape(1, 3, 2)
        >>> gather_tokens(t, torch.tensor([[2, 0]])).tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """
    return torch.gather(tokens, 1, index[..., None].expand(-1, -1, tokens.shape[-1]))



class ClsViT(nn.Module):
    """A ViT over an image's patches with a CLS token and a linear head on it.

    ``forward(images, ids) = head(LN(blocks([cls; embed(patches) + pos][ids])))[CLS]``:
    the image is cut into ``patch x patch`` patches (raster order), embedded, given the fixed
    sin-cos positions, optionally reduced to the tokens ``ids`` ``(N, k)``, prefixed with CLS
    and run through ``depth`` blocks. The head has ``out_features`` outputs (``None``: one per
    patch position, ``L``).

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> vit = ClsViT(8, 2, channels=1, dim=16, depth=1, heads=2, mlp_ratio=2.0)
        >>> vit.length, tuple(vit(torch.rand(3, 1, 8, 8)).shape)
        (16, (3, 16))
        >>> tuple(vit(torch.rand(3, 1, 8, 8), torch.tensor([[0, 5]] * 3)).shape)
        (3, 16)
    """

    def __init__(
        self,
        image_size: int,
        patch: int,
        channels: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        out_features: int | None = None,
    ) -> None:
        super().__init__()
        self.grid = check_grid(image_size, image_size, patch)
        self.length = self.grid[0] * self.grid[1]
        self.patch = patch
        self.embed = PatchEmbed(patch * patch * channels, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos", sincos_position_embedding(dim, self.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, self.length if out_features is None else out_features)
        nn.init.normal_(self.cls, std=0.02)

    def tokens(self, images: Tensor, ids: Tensor | None = None) -> Tensor:
        """CLS + the embedded tokens ``ids`` (all when ``None``): ``(N, 1 + k, dim)``."""
        x = self.embed(patchify(images, self.patch)) + self.pos
        if ids is not None:
            x = gather_tokens(x, ids)
        return torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1)

    def forward(self, images: Tensor, ids: Tensor | None = None) -> Tensor:
        x = self.tokens(images, ids)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, 0]))
