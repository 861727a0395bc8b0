"""Scene graphs as data: nodes (regions) and directed, labelled edges; JSON in and out.

A :class:`SceneGraph` holds :class:`Node` s (a region: id, label, centroid ``(row/H, col/W)``,
optional box, embedding, saliency mass and mask) and :class:`Edge` s ``subject → object`` with
a predicate string and a confidence. At most one edge per ordered pair (the most confident is
kept by :meth:`SceneGraph.create`).

Our JSON schema (``format: "msglance.scene_graph"``, ``version: 1``)::

    {
      "format": "msglance.scene_graph", "version": 1,
      "image_size": [H, W],                      # optional, pixels
      "global_embedding": [float, ...] | null,   # whole-image embedding (optional)
      "nodes": [{"id": "0", "label": "horse",
                 "centroid": [row/H, col/W],      # required, in [0, 1]
                 "box": [r0/H, c0/W, r1/H, c1/W], # optional, in [0, 1]
                 "saliency": 12.5,                # optional saliency mass (>= 0)
                 "embedding": [float, ...]}],     # optional, same length for every node
      "edges": [{"subject": "0", "object": "1", "predicate": "left of",
                 "confidence": 0.9}]              # confidence optional (default 1)
    }

Masks are not stored (they stay in memory only). :func:`read_visual_genome` reads the
Visual-Genome scene-graph form (``objects`` with ``object_id``/``x``/``y``/``w``/``h``/``names``
and ``relationships`` that reference them by ``subject_id``/``object_id``, or nest the
subject and object dicts).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "FORMAT",
    "VERSION",
    "Edge",
    "Node",
    "SceneGraph",
    "SceneGraphError",
    "read_scene_graph",
    "read_visual_genome",
    "write_scene_graph",
]

FORMAT = "msglance.scene_graph"
VERSION = 1


class SceneGraphError(ValueError):
    """A malformed scene graph; the message names the source and the field."""


@dataclass(frozen=True, eq=False)
class Node:
    """A region of the image.

    Attributes:
        id: unique within the graph.
        label: a class name or phrase (display, label-text matching).
        centroid: ``(row / H, col / W)`` in [0, 1].
        box: ``(r0, c0, r1, c1)`` normalised, or ``None``.
        embedding: a feature vector, or ``None``.
        saliency: the saliency mass over the region, or ``None``.
        mask: a boolean ``(H, W)`` mask (memory only), or ``None``.
    """

    id: str
    label: str
    centroid: tuple[float, float]
    box: tuple[float, float, float, float] | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)
    saliency: float | None = None
    mask: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Edge:
    """A directed relation ``subject → object`` (ids) with a predicate and confidence."""

    subject: str
    object: str
    predicate: str
    confidence: float = 1.0


@dataclass(frozen=True, eq=False)
class SceneGraph:
    """Nodes and edges of one image (build with :meth:`create` to validate).

    Examples:
        >>> g = SceneGraph.create(
        ...     [Node("a", "man", (0.5, 0.3)), Node("b", "horse", (0.6, 0.5))],
        ...     [Edge("a", "b", "riding", 0.9)])
        >>> g.relation_matrix(["riding"]).tolist()
        [[-1, 0], [-1, -1]]
        >>> SceneGraph.from_dict(g.to_dict()).edges == g.edges
        True
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    image_size: tuple[int, int] | None = None
    global_embedding: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        nodes: Iterable[Node],
        edges: Iterable[Edge] = (),
        image_size: tuple[int, int] | None = None,
        global_embedding: np.ndarray | None = None,
        source: str = "scene graph",
    ) -> SceneGraph:
        """Validate and build; keeps the most confident edge per ordered pair.

        Raises:
            SceneGraphError: duplicate ids, an edge naming a missing node, a self-edge,
                centroids/boxes outside [0, 1], non-finite or mismatched embeddings.
        """
        nodes = tuple(nodes)
        ids = [n.id for n in nodes]
        seen: set[str] = set()
        for i, node in enumerate(nodes):
            where = f"{source}: nodes[{i}]"
            if not isinstance(node, Node):
                raise SceneGraphError(f"{where} must be a Node, got {type(node).__name__}")
            if node.id in seen:
                raise SceneGraphError(f"{where}.id {node.id!r} is repeated")
            seen.add(node.id)
            _check_unit(node.centroid, 2, f"{where}.centroid")
            if node.box is not None:
                _check_unit(node.box, 4, f"{where}.box")
            if node.saliency is not None and not (math.isfinite(node.saliency) and node.saliency >= 0):
                raise SceneGraphError(f"{where}.saliency must be finite and >= 0, got {node.saliency}")
        dims = set()
        for i, node in enumerate(nodes):
            if node.embedding is not None:
                _check_embedding(node.embedding, f"{source}: nodes[{i}].embedding")
                dims.add(np.asarray(node.embedding).shape[0])
        if len(dims) > 1:
            raise SceneGraphError(
                f"{source}: nodes[].embedding lengths differ ({sorted(dims)}); all must match"
            )
        if global_embedding is not None:
            _check_embedding(global_embedding, f"{source}: global_embedding")
        best: dict[tuple[str, str], Edge] = {}
        for i, edge in enumerate(edges):
            where = f"{source}: edges[{i}]"
            if not isinstance(edge, Edge):
                raise SceneGraphError(f"{where} must be an Edge, got {type(edge).__name__}")
            for role in ("subject", "object"):
                if getattr(edge, role) not in seen:
                    raise SceneGraphError(
                        f"{where}.{role} {getattr(edge, role)!r} names no node (ids: "
                        f"{', '.join(map(repr, ids[:8]))}{', ...' if len(ids) > 8 else ''})"
                    )
            if edge.subject == edge.object:
                raise SceneGraphError(f"{where} relates node {edge.subject!r} to itself")
            if not (math.isfinite(edge.confidence) and edge.confidence >= 0):
                raise SceneGraphError(f"{where}.confidence must be finite and >= 0, got {edge.confidence}")
            key = (edge.subject, edge.object)
            if key not in best or edge.confidence > best[key].confidence:
                best[key] = edge
        if image_size is not None:
            if len(image_size) != 2 or any(int(s) < 1 for s in image_size):
                raise SceneGraphError(f"{source}: image_size must be [H, W] >= 1, got {image_size}")
            image_size = (int(image_size[0]), int(image_size[1]))
        emb = None if global_embedding is None else np.asarray(global_embedding, dtype=np.float64)
        return cls(nodes, tuple(best.values()), image_size, emb)

    # ------------------------------------------------------------------ views

    @property
    def predicates(self) -> list[str]:
        """The distinct predicates, in first-seen order."""
        return list(dict.fromkeys(e.predicate for e in self.edges))

    def relation_matrix(self, vocabulary: Sequence[str]) -> np.ndarray:
        """``(n, n)`` int matrix: ``vocabulary.index(predicate)`` per edge, ``-1`` elsewhere."""
        index = {p: i for i, p in enumerate(vocabulary)}
        pos = {n.id: i for i, n in enumerate(self.nodes)}
        r = np.full((len(self.nodes), len(self.nodes)), -1, dtype=np.int64)
        for e in self.edges:
            if e.predicate not in index:
                raise ValueError(f"predicate {e.predicate!r} is not in the vocabulary")
            r[pos[e.subject], pos[e.object]] = index[e.predicate]
        return r

    def confidence_matrix(self) -> np.ndarray:
        """``(n, n)`` edge confidences (0 where no edge)."""
        pos = {n.id: i for i, n in enumerate(self.nodes)}
        c = np.zeros((len(self.nodes), len(self.nodes)))
        for e in self.edges:
            c[pos[e.subject], pos[e.object]] = e.confidence
        return c

    def centroids(self) -> np.ndarray:
        """``(n, 2)`` normalised centroids."""
        return np.array([n.centroid for n in self.nodes], dtype=np.float64).reshape(-1, 2)

    def without(self, node_ids: Iterable[str]) -> SceneGraph:
        """A copy without the given nodes and their edges."""
        drop = set(node_ids)
        return SceneGraph(
            tuple(n for n in self.nodes if n.id not in drop),
            tuple(e for e in self.edges if e.subject not in drop and e.object not in drop),
            self.image_size,
            self.global_embedding,
        )

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict:
        """The JSON-ready dict of our schema (masks are left out)."""
        nodes = []
        for n in self.nodes:
            d: dict = {"id": n.id, "label": n.label, "centroid": [float(v) for v in n.centroid]}
            if n.box is not None:
                d["box"] = [float(v) for v in n.box]
            if n.saliency is not None:
                d["saliency"] = float(n.saliency)
            if n.embedding is not None:
                d["embedding"] = [float(v) for v in np.asarray(n.embedding).ravel()]
            nodes.append(d)
        return {
            "format": FORMAT,
            "version": VERSION,
            "image_size": list(self.image_size) if self.image_size else None,
            "global_embedding": None if self.global_embedding is None
            else [float(v) for v in self.global_embedding],
            "nodes": nodes,
            "edges": [{"subject": e.subject, "object": e.object, "predicate": e.predicate,
                       "confidence": float(e.confidence)} for e in self.edges],
        }

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "scene graph") -> SceneGraph:
        """Parse our schema; :class:`SceneGraphError` names ``source`` and the field."""
        if not isinstance(data, Mapping):
            raise SceneGraphError(f"{source}: top level must be a JSON object")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise SceneGraphError(f"{source}: format must be {FORMAT!r}, got {fmt!r}")
        if data.get("version", VERSION) != VERSION:
            raise SceneGraphError(f"{source}: version must be {VERSION}, got {data.get('version')!r}")
        nodes = []
        for where, d in _records(data.get("nodes"), f"{source}: nodes", ("id", "centroid")):
            nodes.append(Node(
                id=str(d["id"]),
                label=str(d.get("label", "")),
                centroid=_floats(d["centroid"], 2, f"{where}.centroid"),
                box=None if d.get("box") is None else _floats(d["box"], 4, f"{where}.box"),
                embedding=None if d.get("embedding") is None
                else _vector(d["embedding"], f"{where}.embedding"),
                saliency=None if d.get("saliency") is None
                else _number(d["saliency"], f"{where}.saliency"),
            ))
        edges = []
        for where, d in _records(data.get("edges", []), f"{source}: edges",
                                 ("subject", "object", "predicate")):
            edges.append(Edge(str(d["subject"]), str(d["object"]), str(d["predicate"]),
                              _number(d.get("confidence", 1.0), f"{where}.confidence")))
        size = data.get("image_size")
        if size is not None:
            size = tuple(int(v) for v in _floats(size, 2, f"{source}: image_size"))
        glob = data.get("global_embedding")
        glob = None if glob is None else _vector(glob, f"{source}: global_embedding")
        return cls.create(nodes, edges, size, glob, source=source)


def write_scene_graph(graph: SceneGraph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` as JSON (our schema) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(graph.to_dict(), indent=1) + "\n")
    return path


def _load_json(path: str | os.PathLike[str]):
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SceneGraphError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SceneGraphError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None


def read_scene_graph(path: str | os.PathLike[str]) -> SceneGraph:
    """Read a scene graph JSON file: our schema, or a Visual-Genome entry (auto-detected)."""
    data = _load_json(path)
    if isinstance(data, Mapping) and "objects" in data and "nodes" not in data:
        return read_visual_genome(data, source=str(path))
    return SceneGraph.from_dict(data, source=str(path))


def read_visual_genome(
    data: Mapping | str | os.PathLike[str],
    image_size: tuple[int, int] | None = None,
    source: str = "visual genome",
) -> SceneGraph:
    """One Visual-Genome scene-graph entry (a dict, or a JSON file holding one).

    Objects need ``object_id`` (or ``id``), ``x``, ``y``, ``w``, ``h`` (pixels) and ``names``
    (or ``name``); relationships ``predicate`` and either ``subject_id``/``object_id`` or
    nested ``subject``/``object`` object dicts (their objects are added if not listed). The
    image size comes from ``image_size``, the entry's ``height``/``width``, or the union of
    the boxes.
    """
    if not isinstance(data, Mapping):
        source = str(data)
        data = _load_json(data)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
    if not isinstance(data, Mapping):
        raise SceneGraphError(f"{source}: a Visual-Genome entry must be a JSON object")
    objects: dict[str, Mapping] = {}

    def add(obj, where: str) -> str:
        if not isinstance(obj, Mapping):
            raise SceneGraphError(f"{where} must be an object")
        oid = obj.get("object_id", obj.get("id"))
        if oid is None:
            raise SceneGraphError(f"{where}.object_id is missing")
        for key in ("x", "y", "w", "h"):
            if key not in obj:
                raise SceneGraphError(f"{where}.{key} is missing")
        objects.setdefault(str(oid), obj)
        return str(oid)

    for i, obj in enumerate(data.get("objects", [])):
        add(obj, f"{source}: objects[{i}]")
    rels = []
    for i, rel in enumerate(data.get("relationships", [])):
        where = f"{source}: relationships[{i}]"
        if not isinstance(rel, Mapping) or "predicate" not in rel:
            raise SceneGraphError(f"{where}.predicate is missing")
        ends = []
        for role in ("subject", "object"):
            if isinstance(rel.get(role), Mapping):
                ends.append(add(rel[role], f"{where}.{role}"))
            elif f"{role}_id" in rel:
                ends.append(str(rel[f"{role}_id"]))
            else:
                raise SceneGraphError(f"{where}.{role}_id is missing")
        rels.append(Edge(ends[0], ends[1], str(rel["predicate"]).strip().lower(), 1.0))
    if image_size is None and "height" in data and "width" in data:
        image_size = (int(data["height"]), int(data["width"]))
    if image_size is None:
        h = max((float(o["y"]) + float(o["h"]) for o in objects.values()), default=1.0)
        w = max((float(o["x"]) + float(o["w"]) for o in objects.values()), default=1.0)
        image_size = (max(int(math.ceil(h)), 1), max(int(math.ceil(w)), 1))
    hh, ww = image_size
    nodes = []
    for oid, o in objects.items():
        x, y = _number(o["x"], f"{source}: object {oid}.x"), _number(o["y"], f"{source}: object {oid}.y")
        w_, h_ = _number(o["w"], f"{source}: object {oid}.w"), _number(o["h"], f"{source}: object {oid}.h")
        names = o.get("names") or [o.get("name", "")]
        box = tuple(min(max(v, 0.0), 1.0) for v in (y / hh, x / ww, (y + h_) / hh, (x + w_) / ww))
        nodes.append(Node(oid, str(names[0]), ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), box,
                          saliency=None))
    return SceneGraph.create(nodes, rels, image_size, source=source)


# --------------------------------------------------------------------------- field checks


def _records(items, name: str, required: tuple[str, ...]) -> Iterator[tuple[str, Mapping]]:
    """``(where, record)`` for each object of the JSON list ``items`` (``name[i]`` in the
    messages); :class:`SceneGraphError` if it is not a list of objects with ``required`` keys."""
    if not isinstance(items, list):
        raise SceneGraphError(f"{name} must be a list")
    for i, d in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(d, Mapping):
            raise SceneGraphError(f"{where} must be an object")
        for key in required:
            if key not in d:
                raise SceneGraphError(f"{where}.{key} is missing")
        yield where, d


def _number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SceneGraphError(f"{where} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise SceneGraphError(f"{where} must be finite, got {v!r}")
    return float(v)


def _floats(v, n: int, where: str) -> tuple:
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise SceneGraphError(f"{where} must be a list of {n} numbers, got {v!r}")
    return tuple(_number(x, where) for x in v)


def _vector(v, where: str) -> np.ndarray:
    if not isinstance(v, list) or not v:
        raise SceneGraphError(f"{where} must be a non-empty list of numbers")
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v):
        raise SceneGraphError(f"{where} must hold numbers only")
    a = np.asarray(v, dtype=np.float64)
    _check_embedding(a, where)
    return a


def _check_unit(values, n: int, where: str) -> None:
    vals = tuple(values)
    if len(vals) != n or not all(isinstance(v, (int, float, np.floating)) for v in vals):
        raise SceneGraphError(f"{where} must be {n} numbers, got {values!r}")
    if not all(math.isfinite(v) and -1e-9 <= v <= 1 + 1e-9 for v in vals):
        raise SceneGraphError(f"{where} must lie in [0, 1] (normalised), got {list(vals)}")


def _check_embedding(v, where: str) -> None:
    a = np.asarray(v)
    if a.ndim != 1 or a.size == 0:
        raise SceneGraphError(f"{where} must be a non-empty 1-D vector, got shape {a.shape}")
    if not np.isfinite(a.astype(np.float64)).all():
        raise SceneGraphError(f"{where} holds NaN or inf")
