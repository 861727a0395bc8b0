r"""SIREN: a multilayer perceptron with sine activations (Sitzmann et al., NeurIPS 2020).

Each hidden layer computes :math:`\sin(\omega_0 (W h + b))`. Initialisation follows the
paper: the first layer's weights are uniform in :math:`[-1/n, 1/n]` (``n`` inputs), later
layers' in :math:`[-\sqrt{6/n}/\omega_0, \sqrt{6/n}/\omega_0]`, which keeps pre-activations
distributed so that the sines neither saturate nor vanish with depth.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SineLayer", "Siren", "coordinate_grid"]


class SineLayer(nn.Module):
    """``sin(omega0 * (W x + b))`` with SIREN initialisation."""

    def __init__(self, in_features: int, out_features: int, omega0: float, first: bool) -> None:
        super().__init__()
        self.omega0 = float(omega0)
        self.linear = nn.Linear(in_features, out_features)
        bound = 1.0 / in_features if first else math.sqrt(6.0 / in_features) / self.omega0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega0 * self.linear(x))


class Siren(nn.Module):
    """SIREN ``in -> hidden (sine) -> hidden_layers x hidden (sine) -> out (linear)``.

    Defaults are docs/design.md §4: 2 -> 256, three hidden sine layers of 256, a linear
    256 -> C output, ``omega0 = 30``.
    """

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 3,
        hidden: int = 256,
        hidden_layers: int = 3,
        omega0: float = 30.0,
    ) -> None:
        super().__init__()
        if min(in_features, out_features, hidden) < 1 or hidden_layers < 0:
            raise ValueError(
                f"invalid SIREN size in={in_features}, out={out_features}, "
                f"hidden={hidden}, hidden_layers={hidden_layers}"
            )
        layers: list[nn.Module] = [SineLayer(in_features, hidden, omega0, first=True)]
        layers += [SineLayer(hidden, hidden, omega0, first=False) for _ in range(hidden_layers)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(hidden, out_features)
        bound = math.sqrt(6.0 / hidden) / omega0
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound)

    def forward(self, coords: Tensor) -> Tensor:
        """``(N, in_features)`` coordinates -> ``(N, out_features)`` values."""
        return self.head(self.body(coords))

    def render(self, coords: Tensor, shape: tuple[int, int]) -> Tensor:
        """Evaluate on a coordinate grid and return a ``(1, C, H, W)`` image."""
        h, w = shape
        return self(coords).T.reshape(1, -1, h, w)


def coordinate_grid(height: int, width: int, device=None, dtype=torch.float32) -> Tensor:
    """``(H*W, 2)`` pixel-centre coordinates in ``[-1, 1]``, row-major, ``(row, col)`` order."""
    if height < 1 or width < 1:
        raise ValueError(f"grid size must be positive, got {height}x{width}")
    rows = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    cols = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).reshape(-1, 2)
