"""Does the public MS-Glance reference code turn a SIREN fit into NaN? A reproduction.

Runs the loop of the reference notebook (``explore_MSGlance.ipynb`` of
github.com/Z7Gao/MSGlance): SIREN 2 -> 256 x 4 -> 3 on the astronaut image, Adam (lr 1e-4),
gradient-norm clipping at 1, loss ``MSE + 0.01 GlobalGlance(96x96 shared random sample) +
0.01 (1 - LocalGlance)`` with ``kernel_size=16, stride=1, drop="LC"``, the Local term on
``output.view(1, 3, S, S)`` as the notebook writes it. The Glance modules are the
reference's own files, imported from a clone given with ``--reference`` (nothing of them is
copied here). Per step it prints the loss, whether the loss / the gradients / the
parameters are finite, and the most negative window variance ``E[x^2] - E[x]^2`` (float32,
the reference's arithmetic) of the prediction in the Local term, under whose square root a
negative value gives NaN.

    git clone https://github.com/Z7Gao/MSGlance /tmp/MSGlance-ref
    .venv/bin/python benchmarks/reference_nan.py --reference /tmp/MSGlance-ref --size 512 --steps 15

Options: ``--size`` (image side), ``--steps``, ``--seed``, ``--device``, ``--pixels``
(optimise a pixel tensor directly instead of a SIREN).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def _shared_sample(pred: torch.Tensor, target: torch.Tensor, n: int, m: int):
    """The notebook's ``random_sampling_shared``: ``n*m`` positions drawn without
    replacement by ``torch.randperm`` (all positions qualify for targets in [0, 1])."""
    b, c, h, w = pred.shape
    out_p, out_t = [], []
    for i in range(b):
        chosen = torch.randperm(h * w)[: n * m].to(pred.device)
        out_p.append(pred[i].flatten(1)[:, chosen].view(c, n, m))
        out_t.append(target[i].flatten(1)[:, chosen].view(c, n, m))
    return torch.stack(out_p), torch.stack(out_t)


def _min_variance(img: torch.Tensor, k: int) -> float:
    """Most negative ``conv(x*x) - conv(x)^2`` of a uniform k x k window (the reference's
    float32 arithmetic and zero padding)."""
    c = img.shape[1]
    win = torch.full((c, 1, k, k), 1.0 / (k * k), dtype=img.dtype, device=img.device)
    mu = F.conv2d(img, win, padding=(k - 1) // 2, groups=c)
    var = F.conv2d(img * img, win, padding=(k - 1) // 2, groups=c) - mu * mu
    return float(var.min())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, help="path of a clone of Z7Gao/MSGlance")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pixels", action="store_true", help="optimise pixels, not a SIREN")
    args = ap.parse_args()
    sys.path.insert(0, args.reference)
    from MSGlance.Global import GlobalGlance  # noqa: E402  (the reference's own code)
    from MSGlance.Local import LocalGlance  # noqa: E402
    from skimage import data, transform

    from msglance.inr.siren import Siren, coordinate_grid

    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    s = args.size
    img = data.astronaut().astype(np.float32) / 255.0
    if s != img.shape[0]:
        img = transform.resize(img, (s, s), anti_aliasing=True).astype(np.float32)
    gt = torch.from_numpy(img).reshape(-1, 3).to(dev)  # (S*S, 3), as the notebook's pixels
    coords = coordinate_grid(s, s, device=dev)
    glob = GlobalGlance(kernel_size=16, patch_height=96, patch_width=96, stride=1, drop="LC")
    local = LocalGlance(window_size=16, stride=1, channel=1, drop="LC")
    if args.pixels:
        pix = torch.nn.Parameter(torch.rand(s * s, 3, device=dev))
        params, model = [pix], (lambda _: pix)
    else:
        net = Siren().to(dev)
        params, model = list(net.parameters()), net
    optim = torch.optim.Adam(params, lr=1e-4)
    print(f"torch {torch.__version__}, device {dev}, size {s}, seed {args.seed}, "
          f"{'pixels' if args.pixels else 'SIREN'}, float32")
    print("| step | loss | loss finite | grads finite | params finite | min local var (pred) | s |")
    print("|---|---|---|---|---|---|---|")
    first_bad = None
    for step in range(args.steps):
        t0 = time.perf_counter()
        out = model(coords)
        p_img, t_img = out.view(1, 3, s, s), gt.view(1, 3, s, s)
        patch_p, patch_t = _shared_sample(p_img, t_img, 96, 96)
        loss = ((out - gt) ** 2).mean() + 0.01 * glob(patch_p, patch_t) + 0.01 * (1 - local(p_img, t_img))
        optim.zero_grad()
        loss.backward()
        grads_ok = all(bool(torch.isfinite(p.grad).all()) for p in params)
        torch.nn.utils.clip_grad_norm_(params, max_norm=1.0)
        optim.step()
        params_ok = all(bool(torch.isfinite(p).all()) for p in params)
        min_var = _min_variance(p_img.detach(), 16)
        ok = bool(torch.isfinite(loss)) and grads_ok and params_ok
        print(f"| {step} | {float(loss):.6g} | {bool(torch.isfinite(loss))} | {grads_ok} | "
              f"{params_ok} | {min_var:.3g} | {time.perf_counter() - t0:.1f} |", flush=True)
        if not ok and first_bad is None:
            first_bad = step
        if not params_ok:
            break
    print(f"first non-finite step: {first_bad}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
