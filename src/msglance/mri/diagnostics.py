"""Training diagnostics: what each loss term contributes to the update of the network output.

For a composite loss ``L = Σ_i w_i L_i`` (:class:`msglance.losses.CompositeLoss`) evaluated on
the network output ``p``, every observed step records per term ``i``:

* ``L_i`` — the term's (unweighted) value;
* ``‖w_i ∂L_i/∂p‖₂`` — the norm of its weighted gradient over the batch (``grad_<i>``);
* ``⟨w_i ∂L_i/∂p, g⟩ / ‖g‖²`` with ``g = Σ_j w_j ∂L_j/∂p`` — its *share* of the update
  direction (``share_<i>``; the shares sum to 1, a negative share opposes the total);
* ``cos(w_i ∂L_i/∂p, g)`` (``cos_<i>``);

and ``‖g‖₂`` (``grad_total``). Gradients are taken with respect to the network output, not
the weights, so observing a step costs one backward pass through the loss only, and it
draws no random numbers: a run with diagnostics follows exactly the trajectory of one
without (the training loop's ``backward`` is unchanged).

Use: ``diag = StepDiagnostics(loss_fn, every=5)``; after each ``loss = loss_fn(pred, y)`` and
before ``loss.backward()`` call ``diag.observe(pred, step)``; at the end of the epoch
``diag.epoch_means()`` gives the ``diag_*`` columns of the epoch's log row and resets.
:func:`plot_diagnostics` draws those columns of a run's ``log.csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from msglance.report import markdown_table, save_figure, subplots

__all__ = ["StepDiagnostics", "term_gradients", "read_log", "diagnostics_markdown",
           "plot_diagnostics", "PREFIX"]

#: Prefix of the diagnostics columns in a run's ``log.csv``.
PREFIX = "diag_"


def term_gradients(
    values: dict[str, Tensor], weights: dict[str, float], pred: Tensor
) -> dict[str, float]:
    """Per-term value, weighted-gradient norm, share and cosine on ``pred`` (see module doc).

    Args:
        values: term name -> scalar tensor computed from ``pred`` (graph kept).
        weights: term name -> coefficient ``w_i``.
        pred: the tensor the gradients are taken with respect to.

    Returns:
        ``{"loss_<i>", "grad_<i>", "share_<i>", "cos_<i>" for each term, "grad_total"}``.
        With a zero total gradient the shares and cosines are 0.

    Examples:
        >>> import torch
        >>> p = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> y = torch.zeros(2)
        >>> vals = {"a": ((p - y) ** 2).sum(), "b": p.sum()}   # gradients 2p = (2, 4) and (1, 1)
        >>> out = term_gradients(vals, {"a": 1.0, "b": 2.0}, p)
        >>> round(out["grad_a"], 4), round(out["grad_b"], 4)    # |(2,4)|, |2·(1,1)|
        (4.4721, 2.8284)
        >>> round(out["share_a"] + out["share_b"], 6), round(out["grad_total"], 4)  # |(4,6)|
        (1.0, 7.2111)
    """
    names = list(values)
    weighted: dict[str, Tensor] = {}
    for name in names:
        (g,) = torch.autograd.grad(values[name], pred, retain_graph=True, allow_unused=True)
        g = torch.zeros_like(pred) if g is None else g
        weighted[name] = float(weights[name]) * g.detach().double()
    total = sum(weighted.values(), torch.zeros_like(pred, dtype=torch.float64))
    total_sq = float((total * total).sum())
    total_norm = total_sq**0.5
    out: dict[str, float] = {}
    for name in names:
        g = weighted[name]
        norm = float(g.norm())
        dot = float((g * total).sum())
        out[f"loss_{name}"] = float(values[name].detach())
        out[f"grad_{name}"] = norm
        out[f"share_{name}"] = dot / total_sq if total_sq > 0 else 0.0
        out[f"cos_{name}"] = dot / (norm * total_norm) if norm > 0 and total_norm > 0 else 0.0
    out["grad_total"] = total_norm
    return out


class StepDiagnostics:
    """Record :func:`term_gradients` every ``every`` steps of a :class:`CompositeLoss`.

    Forward hooks on the loss's term modules keep each term's live output, so the loss is
    computed once, as in training.

    Args:
        loss_fn: a :class:`msglance.losses.CompositeLoss` (``terms`` and ``weights``).
        every: observe steps ``1, 1 + every, 1 + 2·every, ...`` of each epoch (``>= 1``).

    Raises:
        ValueError: ``every < 1``. TypeError: ``loss_fn`` is not a composite loss.

    Examples:
        >>> import torch
        >>> from msglance.losses import parse
        >>> loss_fn = parse("l1 + 0.5*l2")
        >>> diag = StepDiagnostics(loss_fn, every=1)
        >>> p = torch.ones(1, 1, 2, 2, requires_grad=True)
        >>> loss = loss_fn(p, torch.zeros(1, 1, 2, 2))
        >>> diag.observe(p, step=1)
        >>> row = diag.epoch_means()
        >>> round(row["diag_grad_l1"], 4), round(row["diag_grad_l2"], 4)  # |1/4|·2, 0.5·|2/4|·2
        (0.5, 0.5)
    """

    def __init__(self, loss_fn: nn.Module, every: int = 1) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        terms = getattr(loss_fn, "terms", None)
        if not isinstance(terms, nn.ModuleDict) or not hasattr(loss_fn, "weights"):
            raise TypeError(
                f"loss_fn must be a msglance.losses.CompositeLoss, got {type(loss_fn).__name__}"
            )
        self.every = every
        self.weights: dict[str, float] = dict(loss_fn.weights)
        self._live: dict[str, Tensor] = {}
        self._sums: dict[str, float] = {}
        self._count = 0
        self._handles = [
            module.register_forward_hook(self._keeper(name)) for name, module in terms.items()
        ]

    def _keeper(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Tensor) -> None:
            self._live[name] = output

        return hook

    def observe(self, pred: Tensor, step: int) -> None:
        """Record the last loss call's terms on ``pred`` if ``step`` (1-based) is observed."""
        live, self._live = self._live, {}
        if (step - 1) % self.every != 0 or not live or not pred.requires_grad:
            return
        for key, value in term_gradients(live, self.weights, pred).items():
            self._sums[key] = self._sums.get(key, 0.0) + value
        self._count += 1

    def epoch_means(self) -> dict[str, float]:
        """Mean of each recorded quantity since the last call, keys prefixed ``diag_``; resets."""
        means = {f"{PREFIX}{k}": v / self._count for k, v in self._sums.items()} if self._count else {}
        self._sums, self._count = {}, 0
        return means

    def close(self) -> None:
        """Remove the forward hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def read_log(run_dir: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The rows of ``RUN_DIR/log.csv`` as floats (empty cells dropped).

    Raises:
        FileNotFoundError: no ``log.csv`` in ``run_dir``.
    """
    path = Path(run_dir) / "log.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no log.csv (not a training run directory)")
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(fh)]


def _terms(rows: Sequence[dict[str, float]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        for key in row:
            if key.startswith(f"{PREFIX}grad_") and key != f"{PREFIX}grad_total":
                name = key[len(f"{PREFIX}grad_"):]
                if name not in names:
                    names.append(name)
    return names


def diagnostics_markdown(rows: Sequence[dict[str, float]]) -> str:
    """A Markdown table of the ``diag_*`` columns of log rows: per epoch, each term's value,
    weighted-gradient norm and share of the update, and the validation PSNR.

    Raises:
        ValueError: the rows have no ``diag_*`` columns.

    Examples:
        >>> rows = [{"epoch": 1.0, "val_psnr": 25.0, "diag_loss_l1": 0.1, "diag_grad_l1": 0.02,
        ...          "diag_share_l1": 1.0, "diag_grad_total": 0.02}]
        >>> print(diagnostics_markdown(rows).splitlines()[2])
        | 1 | 0.1 | 0.02 | 1.000 | 25.000 |
    """
    names = _terms(rows)
    if not names:
        raise ValueError(f"no {PREFIX}* columns in the log; train with diagnostics > 0")
    head = (["epoch"] + [f"L {n}" for n in names] + [f"‖w∂L/∂p‖ {n}" for n in names]
            + [f"share {n}" for n in names] + ["val PSNR (dB)"])
    body = []
    for row in rows:
        cells = [f"{row['epoch']:.0f}"]
        cells += [f"{row.get(f'{PREFIX}loss_{n}', float('nan')):.4g}" for n in names]
        cells += [f"{row.get(f'{PREFIX}grad_{n}', float('nan')):.4g}" for n in names]
        cells += [f"{row.get(f'{PREFIX}share_{n}', float('nan')):.3f}" for n in names]
        cells.append(f"{row.get('val_psnr', float('nan')):.3f}")
        body.append(cells)
    return markdown_table(head, body) + "\n"


def plot_diagnostics(
    run_dir: str | os.PathLike[str], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Per epoch: term values, weighted-gradient norms, shares of the update, validation PSNR.

    Raises:
        FileNotFoundError: no ``log.csv``. ValueError: the log has no ``diag_*`` columns
            (the run was trained without ``diagnostics``).
    """
    rows = read_log(run_dir)
    names = _terms(rows)
    if not names:
        raise ValueError(f"{run_dir}/log.csv has no {PREFIX}* columns; train with diagnostics > 0")
    epochs = [row["epoch"] for row in rows]
    fig, axes = subplots(1, 4, figsize=(15, 3.4), squeeze=False)
    panels = [("loss", "term value L_i", True), ("grad", "‖w_i ∂L_i/∂p‖", True),
              ("share", "share of the update", False)]
    for ax, (kind, label, log) in zip(axes[0], panels):
        for i, name in enumerate(names):
            ax.plot(epochs, [row.get(f"{PREFIX}{kind}_{name}", float("nan")) for row in rows],
                    marker="o", ms=3, color=f"C{i}", label=name)
        if log:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7)
    ax = axes[0, 3]
    ax.plot(epochs, [row.get("val_psnr", float("nan")) for row in rows], marker="o", ms=3)
    ax.set_title("validation PSNR (dB)", fontsize=9)
    ax.set_xlabel("epoch", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
