"""``msglance metrics``: list the metric registry (prints; :mod:`msglance.metrics` holds it)."""

from __future__ import annotations

import math

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["format_bounds", "metrics_command"]


def format_bounds(bounds: tuple[float, float]) -> str:
    """``"[0, 1]"``, ``"[0, ∞)"``, ``"(-∞, ∞)"``: the interval of a metric's values.

    Examples:
        >>> format_bounds((0.0, 1.0)), format_bounds((0.0, math.inf))
        ('[0, 1]', '[0, ∞)')
    """
    lo, hi = bounds
    left = "(-∞" if lo == -math.inf else f"[{lo:g}"
    right = "∞)" if hi == math.inf else f"{hi:g}]"
    return f"{left}, {right}"


def metrics_command(
    kind: str = typer.Option(None, "--kind", help="Only this kind: pixel, structural, glance, "
                             "statistical, perceptual or noref."),
    all_: bool = typer.Option(False, "--all", help="Also list metrics unavailable here."),
) -> None:
    """List the registered metrics: name, better direction, value range, 3-D, convention."""
    from msglance import metrics

    console = Console()
    try:
        names = metrics.available(kind, include_unavailable=all_)
    except ValueError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    table = Table(title="msglance metrics")
    for col in ("name", "kind", "better", "range", "needs data_range", "3-D", "loss",
                "convention"):
        table.add_column(col, overflow="fold")
    for name in names:
        spec = metrics.get(name)
        convention = spec.convention if spec.available else (
            f"unavailable: {spec.unavailable_reason}")
        table.add_row(
            name, spec.kind, "↑" if spec.higher_is_better else "↓", format_bounds(spec.bounds),
            "yes" if spec.needs_data_range else "", "✓" if spec.supports_3d else "",
            "✓" if spec.loss_factory is not None else "", convention,
        )
    console.print(table)
