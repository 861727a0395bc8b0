"""``msglance sess A B``: SeSS of two images (or two scene-graph JSON files); prints the
score, the matched nodes and both graphs. The library :mod:`msglance.semantic` does the work."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["sess_command"]


def sess_command(
    first: Path = typer.Argument(..., help="An image file, or a scene-graph JSON file."),
    second: Path = typer.Argument(..., help="An image file, or a scene-graph JSON file."),
    update: str = typer.Option("jacobi", "--update", help="jacobi (symmetric) or reference (released code's in-place order)."),
    features: str = typer.Option("auto", "--features", help="auto, embedding or label (MiniLM of the node labels)."),
    max_regions: int = typer.Option(8, "--max-regions", help="Most regions (nodes) per image graph."),
    device: str = typer.Option("cpu", "--device", help="Where EfficientNet-Lite0 runs: cpu, cuda, ..."),
    save_graphs: Path = typer.Option(None, "--save-graphs", help="Folder to write both graphs as JSON."),
) -> None:
    """SeSS semantic similarity of two images through their scene graphs (offline)."""
    from msglance.cli_error import cli_error
    from msglance.data.readers import UnreadableFileError, read_image
    from msglance.device import resolve_device
    from msglance.out_dir import prepare_out_dir
    from msglance.semantic.generator import OfflineSceneGraphGenerator
    from msglance.semantic.scene_graph import SceneGraphError, read_scene_graph, write_scene_graph
    from msglance.semantic.score import sess_graphs

    console = Console()

    try:
        dev = str(resolve_device(device))
        if save_graphs is not None:
            prepare_out_dir(save_graphs, "--save-graphs")
        generator = OfflineSceneGraphGenerator(max_regions=max_regions, device=dev)
        graphs = []
        for path in (first, second):
            if path.suffix.lower() == ".json":
                graphs.append(read_scene_graph(path))
            else:
                try:
                    graphs.append(generator(read_image(path)))
                except ValueError as exc:
                    if isinstance(exc, UnreadableFileError):
                        raise
                    raise ValueError(f"{path}: {exc}") from None
        result = sess_graphs(graphs[0], graphs[1], features=features, update=update)
    except (UnreadableFileError, SceneGraphError, ValueError, TypeError, FileNotFoundError,
            ModuleNotFoundError, RuntimeError) as exc:
        raise cli_error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, code=1) from None

    g1, g2 = graphs
    glob = "-" if result.global_similarity is None else f"{result.global_similarity:.4f}"
    console.print(f"SeSS {result.score:.4f}  (graph {result.graph_score:.4f}: S1 {result.s1:.4f}, "
                  f"S2 {result.s2:.4f}; global {glob}; update {update})", highlight=False)
    table = Table(title="matched nodes")
    for col in (f"{first.name} node", f"{second.name} node", "similarity"):
        table.add_column(col, justify="right" if col == "similarity" else "left")
    for u, v in result.matches:
        a, b = g1.nodes[u], g2.nodes[v]
        table.add_row(f"{a.id} {a.label}", f"{b.id} {b.label}", f"{result.similarity[u, v]:.4f}")
    console.print(table)
    for path, graph in ((first, g1), (second, g2)):
        labels = {n.id: n.label for n in graph.nodes}
        t = Table(title=f"{path.name}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
        for col in ("subject", "predicate", "object", "confidence"):
            t.add_column(col, justify="right" if col == "confidence" else "left")
        for e in graph.edges:
            t.add_row(f"{e.subject} {labels[e.subject]}", e.predicate,
                      f"{e.object} {labels[e.object]}", f"{e.confidence:.2f}")
        console.print(t)
    if save_graphs is not None:
        for tag, path, graph in (("1", first, g1), ("2", second, g2)):
            written = write_scene_graph(graph, save_graphs / f"{tag}_{path.stem}.graph.json")
            console.print(f"graph: {written}", highlight=False)
