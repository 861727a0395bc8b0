"""Loss specs: ``"l1 + 0.01*global + 0.01*local"`` -> a composite ``nn.Module``.

Grammar: terms joined by ``+``; each term is ``name``, ``coef*name`` or ``name*coef`` with a
float coefficient (default 1). Names are case-insensitive; ``-`` and ``_`` are equivalent.
Each name resolves, through :data:`TERMS`, to a metric-registry entry whose ``loss_factory``
builds the module (a value to minimise: ``1 - similarity`` or a distance):

========== ===================== =========================================
term       registry entry        value minimised
========== ===================== =========================================
l1         mae                   mean absolute error
l2         mse                   mean squared error
ssim       ssim                  1 - SSIM
ms_ssim    ms_ssim               1 - MS-SSIM
global     glance_global         1 - Global Glance index
local      glance_local          1 - Local Glance index
msglance   ms_glance             1 - MS-Glance = ((1-GI_global) + (1-GI_local))/2
effnet     effnet_distance       EfficientNet-Lite0 feature distance
========== ===================== =========================================

Every term is ``1 - metric`` for a similarity and the metric itself for an error or a
distance. Any other registry entry with a ``loss_factory`` can be named directly. Keyword options
given to :func:`parse` (e.g. ``seed=0``, ``delta=0.01``) are forwarded to each term whose
factory accepts them, so ``parse("l1 + 0.01*global + 0.01*local", delta=0.01)`` applies the
air prior to the global term only; an option that no loss term at all takes (a typo) is an
error, whatever the spec. An option named after a term of the spec takes a dict of options
for that term alone, which override the shared ones: ``parse("ssim + local", window=7, ssim={"window": "box7"})`` (a
Glance ``window`` is an int, an SSIM ``window`` a name).

Per-call Global Glance sampling weights: ``loss(pred, target, position_weights=w)`` hands
``w`` (see :func:`msglance.glance.sample_positions`) to the terms whose ``forward`` takes a
``position_weights`` keyword (``global``, ``msglance``) and to no other term
(:attr:`CompositeLoss.weighted_terms`), so ``l1 + 0.01*global`` with weights changes the
global term's draws only.
"""

from __future__ import annotations

import inspect
import logging
import re

from torch import Tensor, nn

from msglance.validation import check_nonnegative

__all__ = ["CompositeLoss", "TERMS", "parse", "valid_terms"]

logger = logging.getLogger(__name__)

#: Short spec names -> metric-registry names.
TERMS: dict[str, str] = {
    "l1": "mae",
    "l2": "mse",
    "ssim": "ssim",
    "ms_ssim": "ms_ssim",
    "global": "glance_global",
    "local": "glance_local",
    "msglance": "ms_glance",
    "ms_glance": "ms_glance",
    "effnet": "effnet_distance",
}

_NUMBER = r"[+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TERM = re.compile(
    rf"^(?:(?P<pre>{_NUMBER})\s*\*\s*)?(?P<name>[A-Za-z][\w\-]*)(?:\s*\*\s*(?P<post>{_NUMBER}))?$"
)


def _registry_name(term: str) -> str:
    from msglance import metrics

    key = term.lower().replace("-", "_")
    name = TERMS.get(key, key)
    try:
        spec = metrics.get(name)
    except (KeyError, ValueError):
        spec = None
    if spec is None or spec.loss_factory is None:
        raise ValueError(f"unknown loss term {term!r}; valid terms: {', '.join(valid_terms())}")
    if not spec.available:
        raise ValueError(f"loss term {term!r} is unavailable: {spec.unavailable_reason}")
    return name


def valid_terms() -> list[str]:
    """Every name a spec may use: the short names and all registry entries with a loss."""
    from msglance import metrics

    with_loss = [n for n in metrics.available() if metrics.get(n).loss_factory is not None]
    return sorted(set(TERMS) | set(with_loss))


def _known_options() -> set[str]:
    """Every option some available loss term takes."""
    from msglance import metrics

    names: set[str] = set()
    for term in valid_terms():
        accepted = _option_names(metrics.get(TERMS.get(term, term)).loss_factory)
        names |= accepted or set()
    return names


def _option_names(factory) -> set[str] | None:
    """Keyword options ``factory`` accepts; ``None`` if it cannot tell (takes any).

    A factory taking ``**options`` is judged by the ``__init__`` of the module it builds
    with no options (e.g. the ``msglance`` term's ``MSGlanceLoss``).
    """
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = {n for n, p in params.items() if p.kind in kinds}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        try:
            inner = inspect.signature(type(factory())).parameters
        except (TypeError, ValueError):
            return None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inner.values()):
            return None
        names |= {n for n, p in inner.items() if p.kind in kinds}
    return names


class CompositeLoss(nn.Module):
    """A weighted sum of loss terms, ``sum_i w_i * term_i(pred, target)``.

    Attributes:
        weights: term name -> coefficient.
        terms: ``nn.ModuleDict`` of the term modules.

    After each call, :attr:`last_terms` gives each term's *unweighted* value (floats), for
    logging; they are kept as detached tensors until read, so logging costs no device sync
    unless it happens.

    ``forward(pred, target, position_weights=None)``: per-call sampling weights go to the
    :attr:`weighted_terms` only (the Global Glance terms); giving them to a loss without
    such a term is a ``ValueError`` (they would silently do nothing).

    Examples:
        >>> import torch
        >>> loss = parse("l1 + 0.01*global", grid=(16, 16), seed=0)
        >>> loss.weighted_terms
        ('global',)
        >>> y = torch.rand(2, 1, 32, 32)
        >>> w = torch.zeros(2, 1, 32, 32); w[..., :16] = 1.0  # draw from the left half only
        >>> float(loss(y, y, position_weights=w)) < 1e-6
        True
    """

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("a composite loss needs at least one term")
        if set(terms) != set(weights):
            raise ValueError(f"terms {sorted(terms)} and weights {sorted(weights)} differ")
        self.terms = nn.ModuleDict(terms)
        self.weights = {k: check_nonnegative(w, f"weight of {k!r}") for k, w in weights.items()}
        self._last: dict[str, Tensor] = {}
        self._weighted = tuple(k for k, m in terms.items() if _takes_position_weights(m))

    @property
    def weighted_terms(self) -> tuple[str, ...]:
        """The terms that take per-call ``position_weights`` (their ``forward`` has that
        keyword: ``global``, ``msglance``), in spec order."""
        return self._weighted

    @property
    def spec(self) -> str:
        """The canonical spec string, e.g. ``"l2 + 0.01*global"``."""
        parts = []
        for name, w in self.weights.items():
            parts.append(name if w == 1.0 else f"{w:g}*{name}")
        return " + ".join(parts)

    @property
    def last_terms(self) -> dict[str, float]:
        """Each term's unweighted value at the last call (the mean over items for terms
        built with ``reduction="none"``)."""
        return {k: float(v.mean()) for k, v in self._last.items()}

    def forward(
        self, pred: Tensor, target: Tensor, position_weights: Tensor | None = None
    ) -> Tensor:
        if position_weights is not None and not self._weighted:
            raise ValueError(
                f"position_weights given, but no term of {self.spec!r} takes them (only the "
                "Global Glance terms 'global' and 'msglance' sample positions)"
            )
        total: Tensor | None = None
        last: dict[str, Tensor] = {}
        for name, module in self.terms.items():
            if position_weights is not None and name in self._weighted:
                value = module(pred, target, position_weights=position_weights)
            else:
                value = module(pred, target)
            last[name] = value.detach()
            part = self.weights[name] * value
            total = part if total is None else total + part
        self._last = last
        assert total is not None  # __init__ guarantees a term
        return total

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}"


def _takes_position_weights(module: nn.Module) -> bool:
    """Whether ``module.forward`` has a ``position_weights`` parameter."""
    try:
        return "position_weights" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False


def parse(spec: str, **options) -> CompositeLoss:
    """Parse a loss spec into a :class:`CompositeLoss`.

    Args:
        spec: e.g. ``"l2 + 0.01*global + 0.01*local"``, ``"l2 + 0.1*ssim"``, ``"l1+msglance"``.
        **options: forwarded to each term whose factory accepts them (``seed``, ``delta``,
            ``grid``, ``window``, ``data_range``, ...); an option named after a term of the
            spec is a dict of options for that term only.

    Raises:
        ValueError: empty or malformed spec, an unknown or unavailable term (the message
            lists the valid ones), a repeated term, a negative or non-finite coefficient,
            an option no loss term takes (the message lists what the spec's terms take), a
            per-term option that term does not take.

    Examples:
        >>> loss = parse("l1 + 0.5*ssim", ssim={"window": "box7"})
        >>> loss.spec
        'l1 + 0.5*ssim'
    """
    from msglance import metrics

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty loss spec {spec!r}; e.g. 'l2 + 0.01*global + 0.01*local'")
    terms: dict[str, nn.Module] = {}
    weights: dict[str, float] = {}
    parsed: list[tuple[str, str, float]] = []
    for raw in spec.split("+"):
        text = raw.strip()
        match = _TERM.match(text)
        if match is None:
            raise ValueError(
                f"cannot parse term {text!r} in loss spec {spec!r}; write terms as "
                "'name', 'coef*name' or 'name*coef', joined by '+'"
            )
        if match["pre"] is not None and match["post"] is not None:
            raise ValueError(f"term {text!r} in {spec!r} has two coefficients")
        coef = float(match["pre"] or match["post"] or 1.0)
        if not (coef >= 0 and coef < float("inf")):
            raise ValueError(f"coefficient of {text!r} must be finite and >= 0")
        short = match["name"].lower().replace("-", "_")
        registry_name = _registry_name(short)
        if any(short == name for name, _, _ in parsed):
            raise ValueError(f"term {short!r} appears twice in loss spec {spec!r}")
        parsed.append((short, registry_name, coef))
    per_term = {name: options[name] for name, _, _ in parsed if name in options}
    shared = {k: v for k, v in options.items() if k not in per_term}
    accepted = {}
    for name, registry_name, _ in parsed:
        takes = accepted[name] = _option_names(metrics.get(registry_name).loss_factory)
        if name in per_term:
            own = per_term[name]
            if not isinstance(own, dict):
                raise TypeError(f"option {name!r} (term {name!r}) must be a dict of options, got {own!r}")
            unknown = sorted(set(own) - takes) if takes is not None else []
            if unknown and takes is not None:
                raise ValueError(
                    f"loss term {name!r} does not take option(s) {unknown}; it takes "
                    f"{sorted(takes)}"
                )
    unknown = sorted(set(shared) - _known_options()) if shared else []
    if unknown:  # a typo: no loss term at all takes it (options for other terms are fine)
        offer = {n: sorted(a) for n, a in accepted.items() if a is not None}
        raise ValueError(
            f"no loss term takes option(s) {unknown}; the terms of {spec!r} take {offer}"
        )
    for name, registry_name, coef in parsed:
        factory = metrics.get(registry_name).loss_factory
        assert factory is not None  # _registry_name accepts only terms with a loss_factory
        takes = accepted[name]
        mine = {k: v for k, v in shared.items() if takes is None or k in takes}
        mine.update(per_term.get(name, {}))
        try:
            terms[name] = factory(**mine)
        except TypeError as exc:  # e.g. an option the term's factory sets itself
            raise TypeError(f"loss term {name!r}: {exc}") from exc
        weights[name] = coef
    loss = CompositeLoss(terms, weights)
    logger.debug("parsed loss spec %r -> %s", spec, loss.spec)
    return loss
