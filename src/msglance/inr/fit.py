"""Fit a SIREN to one image with any loss (docs/design.md §4 protocol)."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from msglance.device import resolve_device
from msglance.inr.siren import Siren, coordinate_grid

__all__ = ["FitResult", "check_fit_options", "fit_siren"]


@dataclass
class FitResult:
    """Outcome of :func:`fit_siren`.

    Attributes:
        output: final fit ``(1, C, H, W)`` clamped to [0, 1], on the CPU.
        psnr: final PSNR (dB, data range 1) of ``output`` against the target.
        ssim: final SSIM (Gaussian 11/1.5) of ``output`` against the target.
        steps: optimisation steps taken.
        seconds_per_step: mean wall time of one training step (forward, loss, backward,
            clip, update), synchronised on CUDA.
        history: ``(step, psnr, loss)`` before the update of that step, every
            ``log_every`` steps and at the last step.
        first_nonfinite_step: the step whose loss was NaN/inf (training stops there), or
            ``None`` if every step was finite.
        term_history: ``(step, {term: unweighted value})`` at the same steps as
            ``history``, when ``loss_fn`` exposes ``last_terms`` after each call (as
            :class:`msglance.losses.CompositeLoss` and :class:`msglance.glance.MSGlanceLoss`
            do); empty otherwise.
    """

    output: Tensor
    psnr: float
    ssim: float
    steps: int
    seconds_per_step: float
    history: list[tuple[int, float, float]] = field(default_factory=list)
    first_nonfinite_step: int | None = None
    term_history: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def _terms(loss_fn: object) -> dict[str, float] | None:
    """The loss's ``last_terms`` as plain floats, or ``None`` when it has none."""
    terms = getattr(loss_fn, "last_terms", None)
    if not isinstance(terms, dict) or not terms:
        return None
    return {str(k): float(v) for k, v in terms.items()}


def _psnr(pred: Tensor, target: Tensor) -> float:
    """PSNR (data range 1) of the prediction clamped to [0, 1]: :func:`msglance.metrics.psnr`."""
    from msglance.metrics.pixel import psnr

    return float(psnr(pred.clamp(0, 1), target, data_range=1.0, check_range=False))


def check_fit_options(steps: int = 500, lr: float = 1e-4, log_every: int = 10,
                      clip: float | None = 1.0) -> None:
    """Validate the optimisation settings of :func:`fit_siren` (the CLI calls this before
    loading anything, so a bad option fails at once).

    Rules: ``steps`` and ``log_every`` are ints >= 1; ``lr`` is a finite number > 0;
    ``clip`` is ``None`` or a finite number > 0.

    Raises:
        ValueError: the first bad setting, named in the message.

    Examples:
        >>> check_fit_options(steps=10, lr=1e-3)
        >>> check_fit_options(steps=0)
        Traceback (most recent call last):
        ...
        ValueError: steps must be an int >= 1, got 0
        >>> check_fit_options(lr=-1)
        Traceback (most recent call last):
        ...
        ValueError: lr must be a finite number > 0, got -1
    """
    for name, value in (("steps", steps), ("log_every", log_every)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    for name, value in (("lr", lr), ("clip", clip)):
        if value is None and name == "clip":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value > 0
        ):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def fit_siren(
    target: Tensor,
    loss_fn: nn.Module | Callable[[Tensor, Tensor], Tensor],
    steps: int = 500,
    lr: float = 1e-4,
    clip: float | None = 1.0,
    seed: int = 0,
    device: str | torch.device = "auto",
    log_every: int = 10,
    hidden: int = 256,
    hidden_layers: int = 3,
    omega0: float = 30.0,
    on_step: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Fit a SIREN to ``target`` by full-batch Adam on ``loss_fn(prediction, target)``.

    Args:
        target: ``(C, H, W)`` or ``(1, C, H, W)`` image in [0, 1].
        loss_fn: called as ``loss_fn(pred, target)`` on ``(1, C, H, W)`` tensors; returns a
            scalar to minimise.
        steps: optimisation steps (default 500).
        lr: Adam learning rate (default 1e-4).
        clip: gradient-norm clip (default 1.0; ``None`` disables).
        seed: seeds the network initialisation (the global RNG is left untouched).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        log_every: history interval in steps.
        hidden, hidden_layers, omega0: SIREN size.
        on_step: called after each step with ``(step, loss)`` (e.g. a progress bar).

    Returns:
        A :class:`FitResult`.
    """
    from msglance.metrics.structural import ssim  # deferred: the metric suite imports more

    if target.ndim == 3:
        target = target.unsqueeze(0)
    if target.ndim != 4 or target.shape[0] != 1:
        raise ValueError(f"target must be (C, H, W) or (1, C, H, W), got {tuple(target.shape)}")
    if not target.is_floating_point():
        raise TypeError(f"target must be floating point, got {target.dtype}")
    check_fit_options(steps, lr, log_every, clip)
    dev = resolve_device(device)
    target = target.to(dev, torch.float32)
    _, c, h, w = target.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Siren(2, c, hidden, hidden_layers, omega0).to(dev)
    coords = coordinate_grid(h, w, device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[tuple[int, float, float]] = []
    term_history: list[tuple[int, dict[str, float]]] = []
    first_bad: int | None = None
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    step_time = 0.0
    step = 0
    for step in range(1, steps + 1):
        sync()
        t0 = time.perf_counter()
        pred = model.render(coords, (h, w))
        loss = loss_fn(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sync()
        step_time += time.perf_counter() - t0
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            first_bad = step
        if first_bad is not None or step % log_every == 0 or step == 1 or step == steps:
            history.append((step, _psnr(pred.detach(), target), loss_value))
            terms = _terms(loss_fn)
            if terms is not None:
                term_history.append((step, terms))
        if first_bad is not None:
            break
        if on_step is not None:
            on_step(step, loss_value)
    with torch.no_grad():
        out = model.render(coords, (h, w)).clamp(0, 1)
        final_ssim = float(ssim(out, target, data_range=1.0)) if first_bad is None else math.nan
        final_psnr = _psnr(out, target) if first_bad is None else math.nan
    return FitResult(
        output=out.cpu(),
        psnr=final_psnr,
        ssim=final_ssim,
        steps=step,
        seconds_per_step=step_time / max(step, 1),
        history=history,
        first_nonfinite_step=first_bad,
        term_history=term_history,
    )
