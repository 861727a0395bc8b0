"""MiniLM offline text embeddings and SeSS label orderings on a hand-built scene."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from msglance.semantic.minilm import embed_texts, model_dir, text_similarity
from msglance.semantic.scene_graph import Edge, Node, SceneGraph
from msglance.semantic.score import sess_graphs


def test_matches_transformers_bert_with_mean_pooling(monkeypatch):
    """Independent check: Hugging Face BertModel + masked mean pooling, batch-padded."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local files only, before transformers loads
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    texts = ["left of", "a man riding a horse on a field, wearing a hat", "pony"]
    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir()))
    bert = transformers.AutoModel.from_pretrained(str(model_dir())).eval()
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = bert(**enc).last_hidden_state
    mask = enc["attention_mask"][..., None].float()
    ref = torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(embed_texts(texts), ref, atol=1e-5)


def test_cache_and_errors():
    a = embed_texts(["horse"])
    assert np.shares_memory(embed_texts(["horse"])[0], a[0]) is False  # stacked copy
    assert embed_texts([]).shape == (0, 384)
    with pytest.raises(TypeError, match="texts"):
        embed_texts("horse")
    s = text_similarity(["left of", "right of", "above"])
    assert np.allclose(s, s.T) and (np.diag(s) == 1.0).all()


def scene(horse="horse"):
    """'man riding horse on field, wearing hat' (labels only; node features from MiniLM)."""
    nodes = [Node("man", "man", (0.35, 0.5), (0.1, 0.4, 0.6, 0.6)),
             Node("horse", horse, (0.6, 0.5), (0.35, 0.2, 0.85, 0.8)),
             Node("field", "field", (0.85, 0.5), (0.7, 0.0, 1.0, 1.0)),
             Node("hat", "hat", (0.1, 0.5), (0.05, 0.45, 0.15, 0.55))]
    edges = [Edge("man", "horse", "riding"), Edge("horse", "field", "on"),
             Edge("man", "hat", "wearing")]
    return SceneGraph.create(nodes, edges)


def test_label_orderings_with_real_minilm():
    g = scene()
    identity = sess_graphs(g, g).score
    pony, dog, car = (sess_graphs(g, scene(x)).score for x in ("pony", "dog", "car"))
    assert identity == 1.0
    assert identity > pony > dog > car
    no_hat = sess_graphs(g, g.without(["hat"])).score
    no_hat_field = sess_graphs(g, g.without(["hat", "field"])).score
    assert identity > no_hat > no_hat_field


def test_predicate_text_matters():
    g = scene()
    relabelled = dataclasses.replace(g, edges=tuple(
        dataclasses.replace(e, predicate="sitting on") if e.predicate == "riding" else e
        for e in g.edges))
    far = dataclasses.replace(g, edges=tuple(
        dataclasses.replace(e, predicate="painting") if e.predicate == "riding" else e
        for e in g.edges))
    assert 1.0 > sess_graphs(g, relabelled).score > sess_graphs(g, far).score
