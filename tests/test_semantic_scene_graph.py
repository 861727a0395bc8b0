"""SceneGraph model, our JSON schema and Visual-Genome input; one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msglance.semantic.scene_graph import (
    Edge,
    Node,
    SceneGraph,
    SceneGraphError,
    read_scene_graph,
    read_visual_genome,
    write_scene_graph,
)


def small_graph():
    nodes = [Node("m", "man", (0.4, 0.5), (0.1, 0.3, 0.7, 0.7), np.array([1.0, 0.0]), 3.0),
             Node("h", "horse", (0.7, 0.5), (0.4, 0.2, 1.0, 0.8), np.array([0.0, 1.0]), 5.0),
             Node("f", "field", (0.9, 0.5), None, np.array([0.5, 0.5]), None)]
    edges = [Edge("m", "h", "riding", 0.9), Edge("m", "h", "on", 0.4), Edge("h", "f", "on", 0.8)]
    return SceneGraph.create(nodes, edges, (480, 640), np.array([0.2, 0.3]))


def test_keeps_the_most_confident_edge_per_pair():
    g = small_graph()
    assert [(e.subject, e.object, e.predicate) for e in g.edges] == [("m", "h", "riding"),
                                                                   ("h", "f", "on")]
    assert g.relation_matrix(["on", "riding"]).tolist() == [[-1, 1, -1], [-1, -1, 0],
                                                             [-1, -1, -1]]
    assert g.confidence_matrix()[0, 1] == 0.9


def test_json_round_trip(tmp_path):
    g = small_graph()
    path = write_scene_graph(g, tmp_path / "g.json")
    back = read_scene_graph(path)
    assert back.to_dict() == g.to_dict()
    assert back.image_size == (480, 640)
    np.testing.assert_array_equal(back.nodes[1].embedding, [0.0, 1.0])


def test_without_drops_nodes_and_their_edges():
    g = small_graph().without(["h"])
    assert [n.id for n in g.nodes] == ["m", "f"] and g.edges == ()


@pytest.mark.parametrize("text, words", [
    ("{not json", "malformed JSON"),
    ('{"nodes": 3}', "nodes must be a list"),
    ('{"nodes": [{"id": "a"}]}', r"nodes\[0\].centroid is missing"),
    ('{"nodes": [{"id": "a", "centroid": [0.5, 1.5]}]}', r"nodes\[0\].centroid must lie"),
    ('{"nodes": [{"id": "a", "centroid": [0.5, 0.5]}], "edges": '
     '[{"subject": "a", "object": "z", "predicate": "on"}]}', r"edges\[0\].object 'z' names no"),
    ('{"nodes": [{"id": "a", "centroid": [0.5, 0.5], "embedding": [1, NaN]}]}',
     r"nodes\[0\].embedding holds NaN"),
    ('{"nodes": [{"id": "a", "centroid": [0.5, 0.5], "embedding": [1, 2]}, '
     '{"id": "b", "centroid": [0.5, 0.5], "embedding": [1, 2, 3]}]}', "embedding lengths differ"),
    ('{"format": "other", "nodes": []}', "format must be"),
])
def test_bad_files_give_one_line_errors_naming_file_and_field(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SceneGraphError, match=words) as info:
        read_scene_graph(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(SceneGraphError, match="cannot read"):
        read_scene_graph(tmp_path / "nope.json")


def test_python_construction_is_validated():
    with pytest.raises(SceneGraphError, match="repeated"):
        SceneGraph.create([Node("a", "x", (0, 0)), Node("a", "y", (1, 1))])
    with pytest.raises(SceneGraphError, match="itself"):
        SceneGraph.create([Node("a", "x", (0, 0))], [Edge("a", "a", "on")])
    with pytest.raises(SceneGraphError, match="NaN"):
        SceneGraph.create([Node("a", "x", (0, 0), embedding=np.array([np.nan]))])


VG_OBJECTS = [
    {"object_id": 1, "x": 10, "y": 20, "w": 100, "h": 200, "names": ["man"]},
    {"object_id": 2, "x": 0, "y": 100, "w": 400, "h": 200, "names": ["horse"]},
]


def test_visual_genome_id_referenced_and_nested_forms_agree(tmp_path):
    by_id = {"image_id": 7, "width": 400, "height": 300, "objects": VG_OBJECTS,
             "relationships": [{"predicate": "Riding", "subject_id": 1, "object_id": 2}]}
    nested = {"image_id": 7, "width": 400, "height": 300, "objects": [],
              "relationships": [{"predicate": "riding", "subject": VG_OBJECTS[0],
                                 "object": VG_OBJECTS[1]}]}
    path = tmp_path / "vg.json"
    path.write_text(json.dumps([nested]))
    for g in (read_visual_genome(by_id), read_visual_genome(path), read_scene_graph(
            _write(tmp_path / "vg2.json", by_id))):
        assert [n.label for n in g.nodes] == ["man", "horse"]
        assert [(e.subject, e.object, e.predicate) for e in g.edges] == [("1", "2", "riding")]
        assert g.nodes[0].centroid == pytest.approx((120 / 300, 60 / 400))
        assert g.image_size == (300, 400)


def test_visual_genome_errors_name_the_field():
    with pytest.raises(SceneGraphError, match=r"objects\[0\].x is missing"):
        read_visual_genome({"objects": [{"object_id": 1, "y": 0, "w": 1, "h": 1}]})
    with pytest.raises(SceneGraphError, match="names no node"):
        read_visual_genome({"objects": VG_OBJECTS, "relationships": [
            {"predicate": "on", "subject_id": 1, "object_id": 9}]})


def _write(path, data):
    path.write_text(json.dumps(data))
    return path
